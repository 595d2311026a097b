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
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] not in (1, 3)):
        raise DataError(f"{where}: expected shape (N, H, W) or (N, H, W, 3), "
                        f"got {tuple(images.shape)}")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{where}: images have an empty side, shape {tuple(images.shape)}")
    return images


def check_labels(labels: np.ndarray, num_images: int, num_classes: int | None,
                 where: str) -> np.ndarray:
    """Return ``labels`` as int64 ``(N,)``; accepts ``(N,)`` and MedMNIST's ``(N, 1)``."""
    if not isinstance(labels, np.ndarray):
        raise DataError(f"{where}: expected a numpy array, got {type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: expected an integer dtype, got {labels.dtype}")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{where}: expected shape (N,) or (N, 1) (one class per image), "
                        f"got {tuple(labels.shape)}")
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
