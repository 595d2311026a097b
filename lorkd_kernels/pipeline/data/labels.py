"""Multi-label targets (e.g. ChestMNIST's 14 findings) as one int64 bitmask per sample, so a
multi-label task's labels stack with single-label tasks' class indices in one mixed batch."""

from __future__ import annotations

import numpy as np
import torch

# Bits of an int64 that a bitmask may use: bit 63 is the sign.
MAX_LABELS = 63


def encode_multilabel(matrix: np.ndarray) -> np.ndarray:
    """``(N, C)`` of 0/1 -> int64 ``(N,)``, bit ``c`` set when label ``c`` is positive."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"multi-label targets must be (N, labels), got shape {matrix.shape}")
    if matrix.shape[1] > MAX_LABELS:
        raise ValueError(f"{matrix.shape[1]} labels do not fit an int64 bitmask "
                         f"(at most {MAX_LABELS})")
    if not np.isin(matrix, (0, 1)).all():
        raise ValueError("multi-label targets must hold only 0 and 1")
    weights = np.left_shift(np.int64(1), np.arange(matrix.shape[1], dtype=np.int64))
    return (matrix.astype(np.int64) * weights).sum(axis=1, dtype=np.int64)


def decode_multilabel(codes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 bitmasks ``(N,)`` -> float32 ``(N, num_classes)`` of 0/1 (bits above
    ``num_classes`` are ignored)."""
    if codes.ndim != 1:
        raise ValueError(f"multi-label codes must be (N,), got shape {tuple(codes.shape)}")
    if not 0 <= num_classes <= MAX_LABELS:
        raise ValueError(f"num_classes must be in [0, {MAX_LABELS}], got {num_classes}")
    bits = torch.arange(num_classes, device=codes.device)
    return ((codes.long().unsqueeze(1) >> bits) & 1).to(torch.float32)
