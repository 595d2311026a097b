"""EKS linear as a segmented GEMM (SGMV-style), on the fused kernels of ``conv.py``.

A linear layer over ``x (N, ..., in)`` is the 1x1 convolution of a channels-last image: viewing
``x`` as ``(N, in, P, 1)`` with strides ``(P*in, 1, in, 1)`` (P positions per sample) lets the
conv kernels run unchanged, and with a 1x1 kernel their im2col index arithmetic folds away at
compile time. Rows (tokens) are tiled in task order, ``BLOCK_M`` at a time, so a tile spans as
many samples of one task as fit: the segmented GEMM of multi-LoRA serving, with the rank-r
shrink fused into the base GEMM's K loop and the expand into its epilogue.
"""

from __future__ import annotations

import torch

from ..._checks import rows_per_sample
from . import conv, segments
from .conv import cast_to, empty_grad, fused_forward, fused_input_grad, fused_weight_grads

_ONE = (1, 1)
_ZERO = (0, 0)


def _as_image(t: torch.Tensor, positions: int) -> torch.Tensor:
    """(N, ..., F) -> a (N, F, P, 1) view of the same memory (made contiguous first if needed)."""
    flat = t.reshape(t.shape[0], positions, t.shape[-1])
    return flat.unsqueeze(-1).transpose(1, 2)


# Outputs come from conv.empty_output looked up at call time (not imported by name), so the
# tests' NaN-filled replacement reaches the linear kernels too.


def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    positions = rows_per_sample(x.shape)
    y = conv.empty_output((*x.shape[:-1], weight.shape[0]), x)
    plan = segments.kernel_plan(task_ids, lora_A.shape[0], "linear")
    fused_forward(
        _as_image(x, positions),
        weight.contiguous(),
        bias,
        lora_A.contiguous(),
        lora_B.contiguous(),
        plan,
        _as_image(y, positions),
        _ONE,
        _ONE,
        _ZERO,
        _ONE,
        1,
        scaling,
    )
    return y


def linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
    need_x, need_w, need_bias, need_A, need_B = output_mask
    positions = rows_per_sample(x.shape)
    weight, lora_A, lora_B = weight.contiguous(), lora_A.contiguous(), lora_B.contiguous()
    plan = segments.kernel_plan(task_ids, lora_A.shape[0], "linear")
    x_image, grad_image = _as_image(x, positions), _as_image(grad_out, positions)
    dx = empty_grad(x)
    if need_x:
        dx = conv.empty_output(x.shape, x)
        fused_input_grad(
            grad_image,
            weight,
            lora_A,
            lora_B,
            plan,
            _as_image(dx, positions),
            _ONE,
            _ONE,
            _ZERO,
            _ONE,
            1,
            scaling,
        )
    dw, dbias, da, db = fused_weight_grads(
        grad_image,
        x_image,
        lora_A,
        lora_B,
        plan,
        _ONE,
        _ONE,
        _ZERO,
        _ONE,
        1,
        scaling,
        need_w,
        need_bias,
        need_A or need_B,
    )
    return (
        dx,
        cast_to(dw, weight.dtype) if need_w else empty_grad(x),
        cast_to(dbias, x.dtype) if need_bias else empty_grad(x),
        cast_to(da, lora_A.dtype) if need_A else empty_grad(x),
        cast_to(db, lora_B.dtype) if need_B else empty_grad(x),
    )
