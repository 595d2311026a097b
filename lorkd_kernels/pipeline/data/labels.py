"""Multi-label targets carried as one int64 per sample, so mixed-task batches still stack.

Bit ``c`` of a code is set when label ``c`` is positive; int64 holds up to 63 labels (ChestMNIST
needs 14).
"""

from __future__ import annotations

import numpy as np
import torch

MAX_LABELS = 63  # bit 63 is the sign bit of int64


def encode_multilabel(matrix: np.ndarray) -> np.ndarray:
    """``(N, C)`` array of 0/1 -> int64 ``(N,)`` codes (bit c = label c)."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"expected an (N, C) label matrix, got shape {tuple(matrix.shape)}")
    if matrix.shape[1] > MAX_LABELS:
        raise ValueError(
            f"{matrix.shape[1]} labels do not fit an int64 code (at most {MAX_LABELS})"
        )
    if matrix.size and not np.isin(matrix, (0, 1)).all():
        raise ValueError("a multi-label matrix holds only 0 and 1")
    weights = np.left_shift(np.int64(1), np.arange(matrix.shape[1], dtype=np.int64))
    return (matrix.astype(np.int64) * weights).sum(axis=1, dtype=np.int64)


def decode_multilabel(codes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 ``(N,)`` codes -> float32 ``(N, num_classes)`` of 0/1."""
    if not 0 <= num_classes <= MAX_LABELS:
        raise ValueError(f"num_classes must be in [0, {MAX_LABELS}], got {num_classes}")
    bits = torch.arange(num_classes, device=codes.device, dtype=torch.int64)
    return ((codes.to(torch.int64)[:, None] >> bits) & 1).to(torch.float32)
