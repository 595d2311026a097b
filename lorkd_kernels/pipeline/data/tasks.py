"""The MedMNIST 2D classification subsets, their class counts, and which are multi-label."""

from __future__ import annotations

# Insertion order is the task order of the paper's tables, so task ids stay stable. These ten
# are the paper's task set and the default task list of the medmnist source.
MEDMNIST_TASKS: dict[str, int] = {
    "pathmnist": 9,
    "octmnist": 4,
    "organcmnist": 11,
    "bloodmnist": 8,
    "breastmnist": 2,
    "tissuemnist": 8,
    "dermamnist": 7,
    "organamnist": 11,
    "organsmnist": 11,
    "pneumoniamnist": 2,
}

# Every 2D subset of MedMNIST v2 / MedMNIST+ (selectable by name): the paper's ten, then the two
# it left out. ChestMNIST has 14 binary labels per image; RetinaMNIST's 5 ordinal grades are
# read as 5 classes.
MEDMNIST_2D_TASKS: dict[str, int] = {**MEDMNIST_TASKS, "chestmnist": 14, "retinamnist": 5}

# Tasks whose images carry several 0/1 labels (``(N, C)`` label arrays) instead of one class.
MULTILABEL_TASKS: frozenset[str] = frozenset({"chestmnist"})

# MedMNIST's 3D subsets: named only to refuse them with a clear message.
MEDMNIST_3D_TASKS: tuple[str, ...] = ("organmnist3d", "nodulemnist3d", "adrenalmnist3d",
                                      "fracturemnist3d", "vesselmnist3d", "synapsemnist3d")

# Sizes the MedMNIST+ release ships; 28 is the original release and carries no file suffix.
MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)

SPLITS: tuple[str, ...] = ("train", "val", "test")
