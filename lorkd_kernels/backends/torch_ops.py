"""The ``torch`` backend: EKS conv and linear written with ATen calls, for any device.

Two exact algorithms (docs/design.md, "Math"):

* ``merged``: per task present, ``W_t = W0 + s * B_t A_t`` and one plain convolution over that
  task's samples. Conv FLOPs equal a plain conv's; backward gets ``G_t`` (the task's weight
  gradient) from the same call that gives ``dX``, and ``dA_t``, ``dB_t`` are two tiny GEMMs.
* ``split``: ``conv(x, W0)`` over the whole batch plus, per task, a shrink conv to ``r`` channels
  and a 1x1 expand. Cheaper when many tasks each own only a few samples.

Reductions over samples (``dW0``, ``dA``, ``dB``, ``dbias``) accumulate in float32 for half inputs.
"""

from __future__ import annotations

import sys
from typing import List, Optional, Sequence

import torch

from .._checks import rows_per_sample
from ..expert_weights import accumulate_dtype, merged_weight
from .aten_conv import conv2d, conv2d_grads
from .define import python_backend
from . import _settings
from ._segments import Segments, task_segments

_aten = torch.ops.aten

STRATEGIES = ("auto", "merged", "split")


def choose_strategy(segments: Segments, batch: int, strategy: str = "auto") -> str:
    """Resolve ``auto``: ``split`` when tasks average fewer than two samples each, else ``merged``.

    With tiny segments the merged path runs one small convolution per sample; the split path runs
    one full-batch convolution plus cheap rank-r branches.
    """
    if strategy == "auto":
        # the settings' strategy; the cpu backend's stacked split is a split here
        strategy = _settings.current().conv_strategy.replace("stacked", "split")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    if strategy != "auto":
        return strategy
    return "split" if len(segments.runs) * 2 > batch else "merged"


def _empty_like_mask(ref: torch.Tensor) -> torch.Tensor:
    return ref.new_empty((0,))


# ----------------------------------------------------------------------------- conv2d


def _conv(x, w, bias, stride, padding, dilation, groups):
    return conv2d(x, w, bias, list(stride), list(padding), list(dilation), groups)


def _conv_backward(grad_out, x, w, stride, padding, dilation, groups, mask):
    return conv2d_grads(grad_out, x, w, stride, padding, dilation, groups, mask) + (None,)


def _shrink_expand_weights(lora_A, lora_B, weight_shape, groups, task):
    """The split form's shrink (g*r, C_in/g, kh, kw) and expand (C_out, r, 1, 1) conv weights."""
    rank = lora_A.shape[1]
    shrink = lora_A[task].reshape(rank, *weight_shape[1:]).repeat(groups, 1, 1, 1)
    expand = lora_B[task].reshape(weight_shape[0], rank, 1, 1)
    return shrink, expand


def conv2d_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    scaling: float,
    strategy: str = "auto",
) -> torch.Tensor:
    segments = task_segments(task_ids, lora_A.shape[0])
    strategy = choose_strategy(segments, x.shape[0], strategy)
    xs = segments.gather(x)
    if strategy == "merged":
        pieces = []
        for task, start, length in segments.runs:
            w_t = merged_weight(weight, lora_A, lora_B, scaling, task)
            pieces.append(
                _conv(xs.narrow(0, start, length), w_t, bias, stride, padding, dilation, groups)
            )
        ys = (
            torch.cat(pieces)
            if pieces
            else _conv(xs, weight, bias, stride, padding, dilation, groups)
        )
    else:  # split
        ys = _conv(xs, weight, bias, stride, padding, dilation, groups)
        for task, start, length in segments.runs:
            shrink, expand = _shrink_expand_weights(lora_A, lora_B, weight.shape, groups, task)
            u = _conv(xs.narrow(0, start, length), shrink, None, stride, padding, dilation, groups)
            ys.narrow(0, start, length).add_(
                _conv(u, expand, None, (1, 1), (0, 0), (1, 1), groups), alpha=scaling
            )
    return segments.scatter(ys.contiguous())


def conv2d_backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    scaling: float,
    output_mask: Sequence[bool],
    strategy: str = "auto",
) -> List[torch.Tensor]:
    need_x, need_w, need_bias, need_A, need_B = output_mask
    num_tasks, rank, _ = lora_A.shape
    segments = task_segments(task_ids, num_tasks)
    strategy = choose_strategy(segments, x.shape[0], strategy)
    acc = accumulate_dtype(x.dtype)
    xs, gys = segments.gather(x), segments.gather(grad_out)
    # every row of grad_x is written below (the runs cover the batch), so no zero fill
    grad_x = torch.empty_like(xs, memory_format=torch.contiguous_format) if need_x else None
    grad_w = torch.zeros(weight.shape[0], lora_A.shape[2], dtype=acc, device=x.device)
    grad_A = torch.zeros(lora_A.shape, dtype=acc, device=x.device)
    grad_B = torch.zeros(lora_B.shape, dtype=acc, device=x.device)

    if strategy == "merged":
        need_g = need_w or need_A or need_B
        for task, start, length in segments.runs:
            w_t = merged_weight(weight, lora_A, lora_B, scaling, task)
            gx_t, g_t, _ = _conv_backward(
                gys.narrow(0, start, length),
                xs.narrow(0, start, length),
                w_t,
                stride,
                padding,
                dilation,
                groups,
                (need_x, need_g),
            )
            if grad_x is not None:
                grad_x.narrow(0, start, length).copy_(gx_t)
            if need_g:
                g_t = g_t.reshape(weight.shape[0], -1).to(acc)
                grad_w += g_t
                grad_B[task] = scaling * (g_t @ lora_A[task].to(acc).T)
                grad_A[task] = scaling * (lora_B[task].to(acc).T @ g_t)
    else:  # split
        if need_x or need_w:
            gx, gw, _ = _conv_backward(
                gys, xs, weight, stride, padding, dilation, groups, (need_x, need_w)
            )
            if grad_x is not None:
                grad_x.copy_(gx)
            if need_w:
                grad_w += gw.reshape(weight.shape[0], -1).to(acc)
        for task, start, length in segments.runs:
            x_t, gy_t = xs.narrow(0, start, length), gys.narrow(0, start, length)
            shrink, expand = _shrink_expand_weights(lora_A, lora_B, weight.shape, groups, task)
            u = _conv(x_t, shrink, None, stride, padding, dilation, groups)
            gu, g_expand, _ = _conv_backward(
                gy_t * scaling,
                u,
                expand,
                (1, 1),
                (0, 0),
                (1, 1),
                groups,
                (need_x or need_A, need_B),
            )
            if need_B:
                grad_B[task] = g_expand.reshape(weight.shape[0], rank).to(acc)
            if need_x or need_A:
                gx_t, g_shrink, _ = _conv_backward(
                    gu, x_t, shrink, stride, padding, dilation, groups, (need_x, need_A)
                )
                if grad_x is not None:
                    grad_x.narrow(0, start, length).add_(gx_t)
                if need_A:
                    grad_A[task] = g_shrink.reshape(groups, rank, -1).to(acc).sum(0)

    empty = _empty_like_mask(x)
    return [
        segments.scatter(grad_x) if grad_x is not None else empty,
        grad_w.reshape(weight.shape).to(weight.dtype) if need_w else empty,
        grad_out.sum((0, 2, 3), dtype=acc).to(x.dtype) if need_bias else empty,
        grad_A.to(lora_A.dtype) if need_A else empty,
        grad_B.to(lora_B.dtype) if need_B else empty,
    ]


# ----------------------------------------------------------------------------- linear
# Linear layers always use the split form: the base GEMM runs once over the whole batch and each
# task adds (x_t A_t^T) B_t^T, which costs r*(in+out) per row instead of forming an out x in W_t.


def linear_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    segments = task_segments(task_ids, lora_A.shape[0])
    acc = accumulate_dtype(x.dtype)
    xs = segments.gather(x).reshape(x.shape[0], rows_per_sample(x.shape), x.shape[-1])
    ys = _aten.linear(xs, weight, bias).contiguous()
    for task, start, length in segments.runs:
        x_t = xs.narrow(0, start, length).to(acc)
        update = (x_t @ lora_A[task].to(acc).T) @ lora_B[task].to(acc).T
        view = ys.narrow(0, start, length)
        view.copy_((view.to(acc) + scaling * update).to(x.dtype))
    return segments.scatter(ys).reshape(*x.shape[:-1], weight.shape[0])


def linear_backward(
    grad_out: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    scaling: float,
    output_mask: Sequence[bool],
) -> List[torch.Tensor]:
    need_x, need_w, need_bias, need_A, need_B = output_mask
    segments = task_segments(task_ids, lora_A.shape[0])
    acc = accumulate_dtype(x.dtype)
    n, in_f, out_f = x.shape[0], x.shape[-1], weight.shape[0]
    xs = segments.gather(x).reshape(n, rows_per_sample(x.shape), in_f).to(acc)
    gys = segments.gather(grad_out).reshape(n, rows_per_sample(x.shape), out_f).to(acc)
    grad_x = gys @ weight.to(acc) if need_x else None
    grad_A = torch.zeros(lora_A.shape, dtype=acc, device=x.device)
    grad_B = torch.zeros(lora_B.shape, dtype=acc, device=x.device)
    for task, start, length in segments.runs:
        x_t = xs.narrow(0, start, length).reshape(-1, in_f)
        gy_t = gys.narrow(0, start, length).reshape(-1, out_f)
        a_t, b_t = lora_A[task].to(acc), lora_B[task].to(acc)
        gu = (gy_t @ b_t) * scaling  # (rows, r)
        if grad_x is not None:
            grad_x.narrow(0, start, length).add_(
                (gu @ a_t).reshape(length, rows_per_sample(x.shape), in_f)
            )
        if need_A:
            grad_A[task] = gu.T @ x_t
        if need_B:
            grad_B[task] = scaling * (gy_t.T @ (x_t @ a_t.T))
    empty = _empty_like_mask(x)
    flat_gy, flat_x = gys.reshape(-1, out_f), xs.reshape(-1, in_f)
    return [
        segments.scatter(grad_x).reshape(x.shape).to(x.dtype) if grad_x is not None else empty,
        (flat_gy.T @ flat_x).to(weight.dtype) if need_w else empty,
        flat_gy.sum(0).to(x.dtype) if need_bias else empty,
        grad_A.to(lora_A.dtype) if need_A else empty,
        grad_B.to(lora_B.dtype) if need_B else empty,
    ]


# Declared last, once the four functions above exist: its private ops _torch_<op>, their fakes
# and autograd.
python_backend("torch", sys.modules[__name__])
