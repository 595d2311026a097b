"""``F.conv2d`` and its gradients for the Python backends, steering around faults of torch's CPU
convolution (found by tests/backends/test_fuzz.py)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def effective_dilation(dilation: Sequence[int], weight_shape: Sequence[int]) -> tuple:
    """Dilation with 1 wherever the kernel has size 1 (where dilation has no effect)."""
    pair = tuple(dilation) if isinstance(dilation, (list, tuple)) else (dilation, dilation)
    return tuple(1 if k == 1 else d for d, k in zip(pair, weight_shape[2:]))


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    return x.dtype == torch.bfloat16 and x.device.type == "cpu"


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
) -> torch.Tensor:
    """``F.conv2d``, steering around two faults of torch's CPU convolution (2.13) that
    tests/backends/test_fuzz.py found:

    * bfloat16 returns wrong values: the forward for some shapes with unequal strides (about 1
      in 70 random small shapes), the weight gradient garbage where it should be zero (e.g. a
      kernel column that only meets padding). bfloat16 convolutions on CPU therefore run in
      float32 and are rounded back (see ``conv2d_grads`` too);
    * float16 forward segfaults for some shapes with dilation along a kernel dimension of size
      1: that dilation changes nothing, so it is set to 1 (see ``effective_dilation``).
    """
    dilation = effective_dilation(dilation, weight.shape)
    if _bf16_on_cpu(x):
        return F.conv2d(
            x.float(),
            weight.float(),
            None if bias is None else bias.float(),
            stride,
            padding,
            dilation,
            groups,
        ).to(x.dtype)
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


def conv2d_grads(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    output_mask: Sequence[bool],
) -> tuple:
    """``(grad_x, grad_weight)`` of a convolution, with :func:`conv2d`'s workarounds, and
    ``grad_bias`` too when ``output_mask`` has a third entry (all in one call, as the plain
    layer's backward); an entry not asked for by ``output_mask`` is None."""
    dilation = list(effective_dilation(dilation, weight.shape))
    if _bf16_on_cpu(x):
        grads = conv2d_grads(
            grad_out.float(),
            x.float(),
            weight.float(),
            stride,
            padding,
            dilation,
            groups,
            output_mask,
        )
        return tuple(None if g is None else g.to(x.dtype) for g in grads)
    mask = [bool(m) for m in output_mask] + [False] * (3 - len(output_mask))
    grads = torch.ops.aten.convolution_backward(
        grad_out,
        x,
        weight,
        [weight.shape[0]] if mask[2] else None,
        list(stride),
        list(padding),
        dilation,
        False,
        [0, 0],
        groups,
        mask,
    )
    return tuple(g if need else None for g, need in zip(grads, mask))[: len(output_mask)]
