"""The in-memory form of one split (uint8 images, int64 labels) and the checks every reader runs."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import DataError


class SplitArrays(NamedTuple):
    """Images ``(N, H, W)`` gray or ``(N, H, W, 3)`` RGB uint8, labels ``(N,)`` int64."""

    images: np.ndarray
    labels: np.ndarray


def check_images(images: np.ndarray, where: str) -> np.ndarray:
    """Return ``images`` if it is a uint8 ``(N, H, W)`` or ``(N, H, W, 1|3)`` array."""
    if not isinstance(images, np.ndarray):
        raise DataError(f"{where}: expected a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise DataError(f"{where}: expected dtype uint8, got {images.dtype}")
    if images.ndim == 5 or (
        images.ndim == 4
        and images.shape[3] not in (1, 3)
        and images.shape[1] == images.shape[2] == images.shape[3]
    ):
        # MedMNIST's 3D sets store (N, D, H, W) volumes with D == H == W (e.g. organmnist3d).
        raise DataError(
            f"{where}: shape {tuple(images.shape)} holds 3D volumes (a MedMNIST "
            "3D file); only 2D images (N, H, W) or (N, H, W, 3) are supported"
        )
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DataError(
            f"{where}: expected shape (N, H, W) or (N, H, W, 3), got {tuple(images.shape)}"
        )
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{where}: images have an empty side, shape {tuple(images.shape)}")
    return images


def check_labels(
    labels: np.ndarray, num_images: int, num_classes: int | None, where: str
) -> np.ndarray:
    """Return ``labels`` as int64 ``(N,)``; accepts ``(N,)`` and MedMNIST's ``(N, 1)``."""
    if not isinstance(labels, np.ndarray):
        raise DataError(f"{where}: expected a numpy array, got {type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: expected an integer dtype, got {labels.dtype}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(
            f"{where}: expected shape (N,) or (N, 1) (one class per image), "
            f"got {tuple(labels.shape)}"
        )
    if len(labels) != num_images:
        raise DataError(f"{where}: {len(labels)} labels for {num_images} images")
    if len(labels):
        low, high = labels.min(), labels.max()
        bad = low if low < 0 else high if num_classes is not None and high >= num_classes else None
        if bad is not None:
            index = int(np.flatnonzero(labels == bad)[0])
            allowed = f"[0, {num_classes - 1}]" if num_classes is not None else ">= 0"
            raise DataError(f"{where}: label {int(bad)} at index {index} is outside {allowed}")
    return labels.astype(np.int64, copy=False)


def check_multilabel(
    labels: np.ndarray, num_images: int, num_classes: int, where: str
) -> np.ndarray:
    """Return ``labels`` as an int64 ``(N, num_classes)`` matrix of 0/1 (e.g. ChestMNIST's)."""
    if not isinstance(labels, np.ndarray):
        raise DataError(f"{where}: expected a numpy array, got {type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: expected an integer dtype, got {labels.dtype}")
    if labels.shape != (num_images, num_classes):
        raise DataError(
            f"{where}: expected shape ({num_images}, {num_classes}), one 0/1 column "
            f"per label of this multi-label task, got {tuple(labels.shape)}"
        )
    bad = np.flatnonzero(~np.isin(labels, (0, 1)).all(axis=1))
    if len(bad):
        raise DataError(
            f"{where}: row {int(bad[0])} holds {labels[bad[0]].tolist()}; "
            "multi-label rows hold only 0 and 1"
        )
    return labels.astype(np.int64, copy=False)
