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
MEDMNIST_3D_TASKS: tuple[str, ...] = (
    "organmnist3d",
    "nodulemnist3d",
    "adrenalmnist3d",
    "fracturemnist3d",
    "vesselmnist3d",
    "synapsemnist3d",
)

# Training-split sizes (images) of the 2D tasks as MedMNIST publishes them: an epoch's length
# when a cost estimate has no data at hand (the model cost command's --tasks mode).
MEDMNIST_TRAIN_SIZES: dict[str, int] = {
    "pathmnist": 89996,
    "octmnist": 97477,
    "organcmnist": 12975,
    "bloodmnist": 11959,
    "breastmnist": 546,
    "tissuemnist": 165466,
    "dermamnist": 7007,
    "organamnist": 34561,
    "organsmnist": 13932,
    "pneumoniamnist": 4708,
    "chestmnist": 78468,
    "retinamnist": 1080,
}

# Sizes the MedMNIST+ release ships; 28 is the original release and carries no file suffix.
MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)

SPLITS: tuple[str, ...] = ("train", "val", "test")
