"""The ``cuda_emu`` backend: the CUDA kernels (``csrc/kernels``) run on CPU tensors by the
emulation harness (``csrc/emu``: one OS thread per CUDA thread, a barrier for ``__syncthreads``).

It exists to test the CUDA kernel logic on machines without a GPU, and is slow. The compiled
library always contains it; ``LORKD_BACKEND=cuda_emu`` routes the public ops on CPU tensors here,
and these functions call it directly whatever the backend (same signatures as ``torch_ops``).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch


def available() -> bool:
    """Whether the compiled library with the emulated kernels is loaded."""
    try:
        torch.ops.lorkd._emu_eks_conv2d
    except (AttributeError, RuntimeError):
        return False
    return True


def conv2d_forward(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                   lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
                   stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                   groups: int, scaling: float) -> torch.Tensor:
    return torch.ops.lorkd._emu_eks_conv2d(x, weight, bias, lora_A, lora_B, task_ids,
                                           list(stride), list(padding), list(dilation), groups,
                                           scaling)


def conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation,
                    groups, scaling, output_mask):
    return torch.ops.lorkd._emu_eks_conv2d_backward(
        grad_out, x, weight, lora_A, lora_B, task_ids, list(stride), list(padding),
        list(dilation), groups, scaling, list(output_mask))


def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    return torch.ops.lorkd._emu_eks_linear(x, weight, bias, lora_A, lora_B, task_ids, scaling)


def linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
    return torch.ops.lorkd._emu_eks_linear_backward(grad_out, x, weight, lora_A, lora_B,
                                                    task_ids, scaling, list(output_mask))
