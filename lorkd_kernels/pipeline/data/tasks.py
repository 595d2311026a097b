"""The MedMNIST 2D classification subsets used by LoRKD and their class counts."""

from __future__ import annotations

# Insertion order is the task order of the paper's tables, so task ids stay stable.
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

# Training-split sizes (images) of those tasks as MedMNIST publishes them: an epoch's length
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
}

# Sizes the MedMNIST+ release ships; 28 is the original release and carries no file suffix.
MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)

SPLITS: tuple[str, ...] = ("train", "val", "test")
