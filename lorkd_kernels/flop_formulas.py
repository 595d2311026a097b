"""FLOP formulas for :class:`torch.utils.flop_counter.FlopCounterMode`: the EKS ops, which it
does not know, and a convolution backward that counts grouped convolutions right.

Conventions are the counter's own: FLOPs = 2 × multiply-adds; bias adds, normalisation,
activations and pooling are not counted.

The EKS ops are counted as the split formulation (``docs/design.md``): the shared layer
``W0`` on every row, the shrink ``A_t`` (``groups × rank`` channels) and the expand ``B_t``,
whatever kernel a backend picks at run time, so the count does not depend on the task mix.
Each gradient costs what its forward product costs (for ``dB`` the shrink's output is taken
as available, not recomputed).

The formulas are passed to the counter as ``custom_mapping`` (:func:`formulas`) rather than
registered globally: torch's own registry stays untouched and a second import cannot clash.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Sequence

import torch

Shape = Sequence[int]


def _split_products(
    rows: int, out_features: int, k: int, shrink_width: int, rank: int
) -> Dict[str, int]:
    """The three products of one split-form EKS layer, in FLOPs, over ``rows`` output rows
    (pixels × samples for a convolution): shared weight, shrink, expand."""
    return {
        "base": 2 * rows * out_features * k,
        "shrink": 2 * rows * shrink_width * k,
        "expand": 2 * rows * out_features * rank,
    }


def _conv_products(
    x_shape: Shape, weight_shape: Shape, lora_A_shape: Shape, out_shape: Shape
) -> Dict[str, int]:
    c_in, (c_out, c_in_per_group, *_) = x_shape[1], weight_shape
    groups = c_in // c_in_per_group
    rank, k = lora_A_shape[1], lora_A_shape[2]
    rows = out_shape[0] * math.prod(out_shape[2:])
    return _split_products(rows, c_out, k, groups * rank, rank)


def _linear_products(x_shape: Shape, weight_shape: Shape, lora_A_shape: Shape) -> Dict[str, int]:
    out_features, in_features = weight_shape
    rows = math.prod(x_shape) // in_features
    return _split_products(rows, out_features, in_features, lora_A_shape[1], lora_A_shape[1])


def _backward(products: Dict[str, int], output_mask: Sequence[bool]) -> int:
    """``output_mask`` = (dx, dweight, dbias, dA, dB): dx goes back through the shared weight,
    the expand and the shrink; dweight through the shared weight; dA needs the expand's
    gradient (shared with dx) and the shrink's; dB the expand's."""
    need_x, need_w, _, need_a, need_b = output_mask
    flops = 0
    if need_x:
        flops += products["base"] + products["shrink"]
    if need_w:
        flops += products["base"]
    if need_x or need_a:
        flops += products["expand"]  # s · Bᵀ dY, the shrink output's gradient
    if need_a:
        flops += products["shrink"]
    if need_b:
        flops += products["expand"]
    return flops


def eks_conv2d_flop(
    x_shape, weight_shape, _bias, lora_A_shape, _lora_B, _task_ids, *args, out_shape=None, **kwargs
) -> int:
    return sum(_conv_products(x_shape, weight_shape, lora_A_shape, out_shape).values())


def eks_conv2d_backward_flop(
    grad_out_shape,
    x_shape,
    weight_shape,
    lora_A_shape,
    _lora_B,
    _task_ids,
    _stride,
    _padding,
    _dilation,
    _groups,
    _scaling,
    output_mask,
    out_shape=None,
    **kwargs,
) -> int:
    return _backward(
        _conv_products(x_shape, weight_shape, lora_A_shape, grad_out_shape), output_mask
    )


def eks_linear_flop(
    x_shape, weight_shape, _bias, lora_A_shape, *args, out_shape=None, **kwargs
) -> int:
    return sum(_linear_products(x_shape, weight_shape, lora_A_shape).values())


def eks_linear_backward_flop(
    _grad_out,
    x_shape,
    weight_shape,
    lora_A_shape,
    _lora_B,
    _task_ids,
    _scaling,
    output_mask,
    out_shape=None,
    **kwargs,
) -> int:
    return _backward(_linear_products(x_shape, weight_shape, lora_A_shape), output_mask)


def conv_backward_flop(
    grad_out_shape,
    x_shape,
    weight_shape,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _output_padding,
    _groups,
    output_mask,
    out_shape=None,
    **kwargs,
) -> int:
    """Each of the input and weight gradients costs what the forward convolution costs.
    (torch's own formula counts a grouped convolution's weight gradient ``groups`` times over:
    it ignores ``groups`` there, so a depthwise layer's looks as costly as a dense one's.)"""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(x_shape, weight_shape, grad_out_shape, transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def formulas() -> Dict[object, object]:
    """The ``custom_mapping`` for ``FlopCounterMode``; the EKS ops must be loaded."""
    from . import ops  # noqa: F401  (defines torch.ops.lorkd.*)

    lorkd = torch.ops.lorkd
    return {
        lorkd.eks_conv2d: eks_conv2d_flop,
        lorkd.eks_conv2d_backward: eks_conv2d_backward_flop,
        lorkd.eks_linear: eks_linear_flop,
        lorkd.eks_linear_backward: eks_linear_backward_flop,
        torch.ops.aten.convolution_backward: conv_backward_flop,
    }


def counted_flops(step: Callable[[], None]) -> int:
    """FLOPs of running ``step`` (forward and, if it runs one, backward), the EKS ops counted by
    these formulas."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=formulas()) as counter:
        step()
    return counter.get_total_flops()
