"""The experts' weights: ``s * B_t @ A_t`` and the merged ``W0 + s * B_t @ A_t``, as the layers,
the conversion to plain models and the Python backends compute them.

The float64 oracle (:mod:`lorkd_kernels.reference`) computes the same quantities on its own, so a
change here is checked against it rather than silently shared with it.
"""

from __future__ import annotations

import torch


def expert_delta(lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """All experts' weight updates ``s * B_t @ A_t`` as a (T, out, K) tensor."""
    return scaling * torch.bmm(lora_B, lora_A)


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision for sums: float64 stays float64, everything else accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def task_delta(
    weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float, task: int
) -> torch.Tensor:
    """One task's ``s * B_t @ A_t`` in the weight's shape, in the accumulation dtype."""
    acc = accumulate_dtype(weight.dtype)
    return (scaling * (lora_B[task].to(acc) @ lora_A[task].to(acc))).reshape(weight.shape)


def merged_weight(
    weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float, task: int
) -> torch.Tensor:
    """``W0 + s * B_t @ A_t`` in the weight's shape and dtype (computed in float32 for half
    weights, so every backend and the deployed plain layer round it the same way)."""
    delta = task_delta(weight, lora_A, lora_B, scaling, task)
    return (weight.to(delta.dtype) + delta).to(weight.dtype)
