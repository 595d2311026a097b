"""Fused EKS convolution kernels: forward, input gradient (dgrad), weight gradients (wgrad).

All three are implicit GEMMs over rows = (sample, pixel) taken in task order (``segments.py``);
tensors are addressed through their four strides (n, c, h, w), so the linear layers run the same
kernels on a channels-last 1x1 view (``linear.py``). ``K = C_in/groups * kh * kw`` indexes a
column of the matricized weight ``(C_out, K)``, the layout of ``A_t (r, K)``.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, cast

import numpy as np
import torch
import triton
import triton.language as tl

from ..._checks import conv2d_output_size
from . import configs, limits, segments
from ._tiles import (_acc_dtype, _bad_ids, _dtype_flags, _im2col_tile, _operand, _plan_tile,
                     _rank_dot, _rank_flags, _scale, _tap_source)


def empty_output(shape, like: torch.Tensor) -> torch.Tensor:
    """Allocation of every kernel-written output (tests swap it for a NaN-filled one)."""
    return torch.empty(shape, dtype=like.dtype, device=like.device)


@triton.jit
def conv_forward_kernel(
        x_ptr, w_ptr, bias_ptr, a_ptr, b_ptr, y_ptr, order_ptr, bounds_ptr, num_tasks,
        scale_hi, scale_lo, c_in_g, c_out_g, c_out, height, width, out_w, out_positions, depth, rank,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sxn, sxc, sxh, sxw, syn, syc, syh, syw, rows,
        KH: tl.constexpr, KW: tl.constexpr, HAS_BIAS: tl.constexpr, R: tl.constexpr,
        FMA_RANK: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr, HAS_ORDER: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """y tile = x_col @ W0^T + s * (x_col @ A_t^T) @ B_t^T (+ bias): one K loop loads each x
    tile once for both the base GEMM and the rank-r shrink; the expand runs in the epilogue."""
    task, n, p, row_ok = _plan_tile(bounds_ptr, order_ptr, num_tasks, tl.program_id(0),
                                    out_positions, HAS_ORDER, BLOCK_M)
    if task == -1:
        return
    # Out-of-range ids (unchecked by the host): computed with expert 0, stored as NaN.
    bad_ids = task == -2
    task = tl.maximum(task, 0)
    group = tl.program_id(2)
    oh, ow = p // out_w, p % out_w
    co = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    co_ok = co < c_out_g
    co_abs = group * c_out_g + co
    r = tl.arange(0, R)
    r_ok = r < rank
    x_rows = x_ptr + n * sxn + (group * c_in_g).to(tl.int64) * sxc
    a_task = a_ptr + task * rank * depth
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    shrink = tl.zeros((BLOCK_M, R), dtype=ACC)
    for k0 in range(0, depth, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        k_ok = k < depth
        x_tile = _im2col_tile(x_rows, k, depth, oh, ow, row_ok, sxc, sxh, sxw, height, width,
                              stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, KH, KW)
        w_tile = tl.load(w_ptr + co_abs[None, :] * depth + k[:, None],
                         mask=k_ok[:, None] & co_ok[None, :], other=0.0)
        a_tile = tl.load(a_task + r[None, :] * depth + k[:, None],
                         mask=k_ok[:, None] & r_ok[None, :], other=0.0)
        x_tile = _operand(x_tile, UPCAST)
        acc = tl.dot(x_tile, _operand(w_tile, UPCAST), acc, input_precision=PRECISION)
        shrink = _rank_dot(x_tile, _operand(a_tile, UPCAST), shrink, FMA_RANK, PRECISION, ACC)
    b_tile = tl.load(b_ptr + (task * c_out + co_abs[None, :]) * rank + r[:, None],
                     mask=r_ok[:, None] & co_ok[None, :], other=0.0).to(ACC)
    expand = _rank_dot(shrink, b_tile, tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC), FMA_RANK,
                       PRECISION, ACC)
    acc += _scale(scale_hi, scale_lo, ACC) * expand
    if HAS_BIAS:
        acc += tl.load(bias_ptr + co_abs, mask=co_ok, other=0.0).to(ACC)[None, :]
    acc = tl.where(bad_ids, float("nan"), acc)
    y_ptrs = (y_ptr + n[:, None] * syn + co_abs[None, :].to(tl.int64) * syc + oh[:, None] * syh
              + ow[:, None] * syw)
    tl.store(y_ptrs, acc.to(y_ptr.dtype.element_ty), mask=row_ok[:, None] & co_ok[None, :])


@triton.jit
def conv_dgrad_kernel(
        dy_ptr, w_ptr, a_ptr, b_ptr, dx_ptr, order_ptr, bounds_ptr, num_tasks,
        scale_hi, scale_lo, c_in_g, c_out_g, c_out, out_h, out_w, width, in_positions, depth, rank,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sdn, sdc, sdh, sdw, sxn, sxc, sxh, sxw, rows,
        KH: tl.constexpr, KW: tl.constexpr, R: tl.constexpr, FMA_RANK: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr, HAS_ORDER: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """dx tile = sum over taps of dy_tap @ (W0 + s B_t A_t)[:, :, tap]: per tap the loop over
    output channels feeds each dy tile to the base GEMM and to the shrink ``dy_tap @ B_t``; the
    expand ``@ A_t[:, :, tap]`` closes the tap."""
    task, n, p, row_ok = _plan_tile(bounds_ptr, order_ptr, num_tasks, tl.program_id(0),
                                    in_positions, HAS_ORDER, BLOCK_M)
    if task == -1:
        return
    bad_ids = task == -2      # as in the forward: expert 0, then NaN
    task = tl.maximum(task, 0)
    group = tl.program_id(2)
    h, w = p // width, p % width
    ci = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    ci_ok = ci < c_in_g
    r = tl.arange(0, R)
    r_ok = r < rank
    dy_rows = dy_ptr + n * sdn + (group * c_out_g).to(tl.int64) * sdc
    scale = _scale(scale_hi, scale_lo, ACC)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for tap in range(0, KH * KW):
        oh, ow, pix_ok = _tap_source(h, w, row_ok, tap, out_h, out_w, stride_h, stride_w,
                                     pad_h, pad_w, dil_h, dil_w, KW)
        shrink = tl.zeros((BLOCK_M, R), dtype=ACC)
        for c0 in range(0, c_out_g, BLOCK_K):
            co = c0 + tl.arange(0, BLOCK_K)
            co_ok = co < c_out_g
            co_abs = group * c_out_g + co
            dy_tile = tl.load(dy_rows[:, None] + co[None, :] * sdc + (oh * sdh + ow * sdw)[:, None],
                              mask=pix_ok[:, None] & co_ok[None, :], other=0.0)
            w_tile = tl.load(w_ptr + co_abs[:, None] * depth + ci[None, :] * (KH * KW) + tap,
                             mask=co_ok[:, None] & ci_ok[None, :], other=0.0)
            b_tile = tl.load(b_ptr + (task * c_out + co_abs[:, None]) * rank + r[None, :],
                             mask=co_ok[:, None] & r_ok[None, :], other=0.0)
            dy_tile = _operand(dy_tile, UPCAST)
            acc = tl.dot(dy_tile, _operand(w_tile, UPCAST), acc, input_precision=PRECISION)
            shrink = _rank_dot(dy_tile, _operand(b_tile, UPCAST), shrink, FMA_RANK, PRECISION,
                               ACC)
        a_tile = tl.load(a_ptr + task * rank * depth + r[:, None] * depth + ci[None, :] * (KH * KW)
                         + tap, mask=r_ok[:, None] & ci_ok[None, :], other=0.0).to(ACC)
        acc += scale * _rank_dot(shrink, a_tile, tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC),
                                 FMA_RANK, PRECISION, ACC)
    acc = tl.where(bad_ids, float("nan"), acc)
    dx_ptrs = (dx_ptr + n[:, None] * sxn + (group * c_in_g + ci)[None, :].to(tl.int64) * sxc
               + (h * sxh + w * sxw)[:, None])
    tl.store(dx_ptrs, acc.to(dx_ptr.dtype.element_ty), mask=row_ok[:, None] & ci_ok[None, :])


@triton.jit
def conv_wgrad_kernel(
        x_ptr, dy_ptr, a_ptr, b_ptr, order_ptr, bounds_ptr, scale_hi, scale_lo,
        dw_ptr, da_ptr, db_ptr, dbias_ptr,
        num_tasks, c_in_g, c_out_g, c_out, height, width, out_w, out_positions, depth, rank,
        total_rows, rows_per_split,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sxn, sxc, sxh, sxw, sdn, sdc, sdh, sdw,
        KH: tl.constexpr, KW: tl.constexpr, R: tl.constexpr, FMA_RANK: tl.constexpr,
        SPLIT: tl.constexpr,
        NEED_W: tl.constexpr, NEED_LORA: tl.constexpr, NEED_BIAS: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr, HAS_ORDER: tl.constexpr,
        BLOCK_CO: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr):
    """Per (C_out tile, K tile, group, row split): for each task, G_t = dy_t^T @ x_col_t over the
    task's rows in the split, then dW0 += G_t, dA_t += s B_t^T G_t, dB_t += s G_t A_t^T.

    Sums across programs (row splits; C_out tiles for dA; K tiles for dB; groups) go through fp32
    (fp64) atomics into zeroed buffers; a task with no rows adds nothing, so its dA/dB stay zero.
    Rows of out-of-range ids (segments 0 and T + 1) are not read here: every program adds NaN to
    every gradient tile it owns instead, so the whole batch's gradients are NaN.
    """
    group = tl.program_id(2) // SPLIT
    split = tl.program_id(2) % SPLIT
    co = tl.program_id(0) * BLOCK_CO + tl.arange(0, BLOCK_CO)
    co_ok = co < c_out_g
    co_abs = group * c_out_g + co
    k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    k_ok = k < depth
    ci, tap = k // (KH * KW), k % (KH * KW)
    r = tl.arange(0, R)
    r_ok = r < rank
    split_lo = split * rows_per_split
    split_hi = tl.minimum(split_lo + rows_per_split, total_rows)
    scale = _scale(scale_hi, scale_lo, ACC)
    bad = _bad_ids(bounds_ptr, num_tasks)
    dw = tl.zeros((BLOCK_CO, BLOCK_K), dtype=ACC)
    dbias = tl.zeros((BLOCK_CO,), dtype=ACC)
    for task in range(0, num_tasks):
        lo = tl.maximum(tl.load(bounds_ptr + task + 1) * out_positions, split_lo)
        hi = tl.minimum(tl.load(bounds_ptr + task + 2) * out_positions, split_hi)
        if lo < hi:
            g_task = tl.zeros((BLOCK_CO, BLOCK_K), dtype=ACC)
            for q0 in range(lo, hi, BLOCK_P):
                q = q0 + tl.arange(0, BLOCK_P)
                q_ok = q < hi
                n = q // out_positions
                if HAS_ORDER:
                    n = tl.load(order_ptr + n, mask=q_ok, other=0)
                n = n.to(tl.int64)
                p = q % out_positions
                oh, ow = p // out_w, p % out_w
                dy_tile = tl.load(dy_ptr + n[None, :] * sdn + co_abs[:, None].to(tl.int64) * sdc
                                  + (oh * sdh + ow * sdw)[None, :],
                                  mask=co_ok[:, None] & q_ok[None, :], other=0.0)
                if NEED_BIAS:
                    dbias += tl.sum(dy_tile.to(ACC), axis=1)
                if NEED_W or NEED_LORA:
                    ih = oh[:, None] * stride_h - pad_h + (tap // KW)[None, :] * dil_h
                    iw = ow[:, None] * stride_w - pad_w + (tap % KW)[None, :] * dil_w
                    x_ok = (q_ok[:, None] & k_ok[None, :] & (ih >= 0) & (ih < height)
                            & (iw >= 0) & (iw < width))
                    x_tile = tl.load(x_ptr + n[:, None] * sxn
                                     + (group * c_in_g + ci)[None, :].to(tl.int64) * sxc
                                     + ih * sxh + iw * sxw, mask=x_ok, other=0.0)
                    g_task = tl.dot(_operand(dy_tile, UPCAST), _operand(x_tile, UPCAST), g_task,
                                    input_precision=PRECISION)
            if NEED_W:
                dw += g_task
            if NEED_LORA:
                bt_tile = tl.load(b_ptr + (task * c_out + co_abs[None, :]) * rank + r[:, None],
                                  mask=r_ok[:, None] & co_ok[None, :], other=0.0).to(ACC)
                tl.atomic_add(da_ptr + (task * rank + r[:, None]) * depth + k[None, :],
                              scale * _rank_dot(bt_tile, g_task,
                                                tl.zeros((R, BLOCK_K), dtype=ACC), FMA_RANK,
                                                PRECISION, ACC),
                              mask=r_ok[:, None] & k_ok[None, :])
                at_tile = tl.load(a_ptr + (task * rank + r[None, :]) * depth + k[:, None],
                                  mask=k_ok[:, None] & r_ok[None, :], other=0.0).to(ACC)
                tl.atomic_add(db_ptr + (task * c_out + co_abs[:, None]) * rank + r[None, :],
                              scale * _rank_dot(g_task, at_tile,
                                                tl.zeros((BLOCK_CO, R), dtype=ACC), FMA_RANK,
                                                PRECISION, ACC),
                              mask=co_ok[:, None] & r_ok[None, :])
    if NEED_LORA and bad:
        # unchecked out-of-range ids: NaN into every dA/dB tile this program owns, all tasks
        for task in range(0, num_tasks):
            tl.atomic_add(da_ptr + (task * rank + r[:, None]) * depth + k[None, :],
                          tl.full((R, BLOCK_K), float("nan"), ACC),
                          mask=r_ok[:, None] & k_ok[None, :])
            tl.atomic_add(db_ptr + (task * c_out + co_abs[:, None]) * rank + r[None, :],
                          tl.full((BLOCK_CO, R), float("nan"), ACC),
                          mask=co_ok[:, None] & r_ok[None, :])
    if NEED_W:
        tl.atomic_add(dw_ptr + co_abs[:, None] * depth + k[None, :],
                      tl.where(bad, float("nan"), dw), mask=co_ok[:, None] & k_ok[None, :])
    if NEED_BIAS:
        tl.atomic_add(dbias_ptr + co_abs, tl.where(bad, float("nan"), dbias),
                      mask=co_ok & (tl.program_id(1) == 0))


# ----------------------------------------------------------------------------- launchers


def scale_args(scaling: float) -> tuple:
    """``scaling`` as two fp32 kernel arguments (hi, lo) whose sum is exact to about 2^-48: a
    float argument is fp32 only, and a device scalar would cost a launch per kernel."""
    hi = float(np.float32(scaling))
    return hi, float(np.float32(scaling - hi))


def plan_args(plan: segments.KernelPlan, num_tasks: int) -> tuple:
    """The kernels' plan arguments: order, bounds, T."""
    return plan.order, plan.bounds, num_tasks


def _gemm_launch(rows: int, cols: int, depth: int) -> Tuple[int, dict]:
    """(BLOCK_M, the other tile and launch options) of the forward and dgrad kernels."""
    tiles = configs.gemm_tiles(rows, cols, depth)
    options = dict(BLOCK_N=tiles.block_n, BLOCK_K=tiles.block_k)
    if not configs.INTERPRETING:
        options.update(num_warps=tiles.num_warps, num_stages=tiles.num_stages)
    return tiles.block_m, options


def _strides4(t: torch.Tensor) -> List[int]:
    return list(t.stride())


def fused_forward(x: torch.Tensor, weight2d: torch.Tensor, bias: Optional[torch.Tensor],
                  lora_A: torch.Tensor, lora_B: torch.Tensor, plan: segments.KernelPlan,
                  y: torch.Tensor, kernel_size: Sequence[int], stride: Sequence[int],
                  padding: Sequence[int], dilation: Sequence[int], groups: int,
                  scaling: float) -> torch.Tensor:
    """Write ``y`` (an (N, C_out, H_out, W_out) strided view) from ``x`` ((N, C_in, H, W) view)."""
    batch, c_in, height, width = x.shape
    _, c_out, out_h, out_w = y.shape
    num_tasks, rank, depth = lora_A.shape
    positions = out_h * out_w
    rows = batch * positions
    if rows == 0:
        return y
    c_out_g = c_out // groups
    block_m, options = _gemm_launch(rows, c_out_g, depth)
    num_tiles = segments.max_tiles(batch, positions, num_tasks, block_m)
    grid = limits.checked_grid((num_tiles, triton.cdiv(c_out_g, options["BLOCK_N"]), groups),
                               "the fused forward")
    torch.library.wrap_triton(conv_forward_kernel)[grid](
        x, weight2d, weight2d if bias is None else bias, lora_A, lora_B, y,
        *plan_args(plan, num_tasks), *scale_args(scaling),
        c_in // groups, c_out_g, c_out, height, width, out_w, positions, depth, rank,
        stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        *_strides4(x), *_strides4(y), rows,
        KH=kernel_size[0], KW=kernel_size[1], HAS_BIAS=bias is not None,
        **_rank_flags(x.dtype, plan.tf32, rank), BLOCK_M=block_m, HAS_ORDER=plan.has_order,
        **_dtype_flags(x.dtype, plan.tf32), **options)
    return y


def fused_input_grad(grad_out: torch.Tensor, weight2d: torch.Tensor, lora_A: torch.Tensor,
                     lora_B: torch.Tensor, plan: segments.KernelPlan, dx: torch.Tensor,
                     kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                     dilation: Sequence[int], groups: int, scaling: float) -> torch.Tensor:
    """Write ``dx`` ((N, C_in, H, W) view) from ``grad_out`` ((N, C_out, H_out, W_out) view)."""
    batch, c_in, height, width = dx.shape
    _, c_out, out_h, out_w = grad_out.shape
    num_tasks, rank, depth = lora_A.shape
    positions = height * width
    rows = batch * positions
    if rows == 0:
        return dx
    c_in_g, c_out_g = c_in // groups, c_out // groups
    block_m, options = _gemm_launch(rows, c_in_g, c_out_g)
    num_tiles = segments.max_tiles(batch, positions, num_tasks, block_m)
    grid = limits.checked_grid((num_tiles, triton.cdiv(c_in_g, options["BLOCK_N"]), groups),
                               "the fused input gradient")
    torch.library.wrap_triton(conv_dgrad_kernel)[grid](
        grad_out, weight2d, lora_A, lora_B, dx, *plan_args(plan, num_tasks),
        *scale_args(scaling), c_in_g, c_out_g, c_out, out_h, out_w, width, positions, depth, rank,
        stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        *_strides4(grad_out), *_strides4(dx), rows,
        KH=kernel_size[0], KW=kernel_size[1], **_rank_flags(dx.dtype, plan.tf32, rank),
        BLOCK_M=block_m, HAS_ORDER=plan.has_order, **_dtype_flags(dx.dtype, plan.tf32), **options)
    return dx


def fused_weight_grads(grad_out: torch.Tensor, x: torch.Tensor, lora_A: torch.Tensor,
                       lora_B: torch.Tensor, plan: segments.KernelPlan, kernel_size: Sequence[int],
                       stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                       groups: int, scaling: float, need_w: bool, need_bias: bool,
                       need_lora: bool):
    """(dW0 (C_out, K), dbias, dA, dB) in the accumulation dtype; None where not needed. A batch
    with an out-of-range id (unchecked by the host) gets NaN in all of them: rather than sums
    that silently leave a sample out (the kernel adds the NaN, on the device)."""
    batch, c_in, height, width = x.shape
    _, c_out, out_h, out_w = grad_out.shape
    num_tasks, rank, depth = lora_A.shape
    acc = _acc_dtype(x.dtype)

    dw, dbias, da, db = zeroed_buffers(
        [(c_out, depth) if need_w else (1,), (c_out,) if need_bias else (1,),
         lora_A.shape if need_lora else (1,), lora_B.shape if need_lora else (1,)], acc, x.device)
    positions = out_h * out_w
    rows = batch * positions
    if rows > 0 and (need_w or need_bias or need_lora):
        c_out_g = c_out // groups
        tiles = configs.wgrad_tiles(c_out_g, depth, rows, groups)
        k_tiles = triton.cdiv(depth, tiles.block_k) if (need_w or need_lora) else 1
        options = {} if configs.INTERPRETING else dict(num_warps=tiles.num_warps, num_stages=2)
        grid = limits.checked_grid(
            (triton.cdiv(c_out_g, tiles.block_co), k_tiles, groups * tiles.split),
            "the fused weight gradients")
        torch.library.wrap_triton(conv_wgrad_kernel)[grid](
            x, grad_out, lora_A, lora_B, plan.order, plan.bounds, *scale_args(scaling),
            dw, da, db, dbias,
            num_tasks, c_in // groups, c_out_g, c_out, height, width, out_w, positions, depth,
            rank, rows, triton.cdiv(rows, tiles.split),
            stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
            *_strides4(x), *_strides4(grad_out),
            KH=kernel_size[0], KW=kernel_size[1], SPLIT=tiles.split,
            # tl.dot for its rank products: they are a small share of its work (the G_t GEMM
            # is most of it), and its multiply-add variant spills (benchmarks/triton_resources)
            R=configs.rank_block(rank), FMA_RANK=False,
            NEED_W=need_w, NEED_LORA=need_lora, NEED_BIAS=need_bias, BLOCK_CO=tiles.block_co,
            BLOCK_K=tiles.block_k, BLOCK_P=tiles.block_p, HAS_ORDER=plan.has_order,
            **_dtype_flags(x.dtype, plan.tf32), **options)
    return (dw if need_w else None, dbias if need_bias else None,
            da if need_lora else None, db if need_lora else None)


@triton.jit
def _zero_kernel(p0, n0, p1, n1, p2, n2, p3, n3, BLOCK: tl.constexpr):
    """Zero up to four buffers in one launch: program (i, j) zeroes block i of buffer j."""
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    which = tl.program_id(1)
    if which == 0:
        tl.store(p0 + offsets, tl.zeros((BLOCK,), p0.dtype.element_ty), mask=offsets < n0)
    elif which == 1:
        tl.store(p1 + offsets, tl.zeros((BLOCK,), p1.dtype.element_ty), mask=offsets < n1)
    elif which == 2:
        tl.store(p2 + offsets, tl.zeros((BLOCK,), p2.dtype.element_ty), mask=offsets < n2)
    else:
        tl.store(p3 + offsets, tl.zeros((BLOCK,), p3.dtype.element_ty), mask=offsets < n3)


def zeroed_buffers(shapes, dtype: torch.dtype, device) -> List[torch.Tensor]:
    """Zeroed accumulators (up to four) of the given shapes, filled by one launch where a
    ``torch.zeros`` each would be a launch each. They are separate allocations: a custom op's
    outputs may not alias one another."""
    buffers = [torch.empty(shape, dtype=dtype, device=device) for shape in shapes]
    padded = buffers + [buffers[0]] * (4 - len(buffers))
    sizes = [b.numel() for b in padded[:len(buffers)]] + [0] * (4 - len(buffers))
    block = 1024
    grid = (triton.cdiv(max(max(sizes), 1), block), len(buffers))
    torch.library.wrap_triton(_zero_kernel)[grid](
        padded[0], sizes[0], padded[1], sizes[1], padded[2], sizes[2], padded[3], sizes[3],
        BLOCK=block)
    return buffers


def empty_grad(like: torch.Tensor) -> torch.Tensor:
    """The (0,) placeholder of a gradient the output mask did not ask for."""
    return like.new_empty((0,))


def cast_to(t: Optional[torch.Tensor], dtype: torch.dtype, shape=None) -> torch.Tensor:
    """``t`` in ``dtype`` (an accumulator cast back to the parameter's dtype), reshaped."""
    # never None: called only for the gradients the output mask asked for, whose buffers exist
    t = cast(torch.Tensor, t).to(dtype)
    return t if shape is None else t.reshape(shape)


def conv2d_forward(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                   scaling):
    y = empty_output(conv2d_output_size(x.shape, weight.shape, stride, padding, dilation), x)
    plan = segments.kernel_plan(task_ids, lora_A.shape[0], "conv")
    return fused_forward(x, weight.reshape(weight.shape[0], -1).contiguous(), bias,
                         lora_A.contiguous(), lora_B.contiguous(), plan, y,
                         weight.shape[2:], stride, padding, dilation, groups, scaling)


def conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation,
                    groups, scaling, output_mask):
    need_x, need_w, need_bias, need_A, need_B = output_mask
    if need_w or need_bias or need_A or need_B:      # every weight gradient sums with atomics
        limits.alert_nondeterministic("the EKS conv's weight gradient (fused form)")
    weight2d = weight.reshape(weight.shape[0], -1).contiguous()
    lora_A, lora_B = lora_A.contiguous(), lora_B.contiguous()
    plan = segments.kernel_plan(task_ids, lora_A.shape[0], "conv")
    dx = empty_grad(x)
    if need_x:
        dx = fused_input_grad(grad_out, weight2d, lora_A, lora_B, plan,
                              empty_output(x.shape, x), weight.shape[2:], stride, padding,
                              dilation, groups, scaling)
    dw, dbias, da, db = fused_weight_grads(grad_out, x, lora_A, lora_B, plan,
                                           weight.shape[2:], stride, padding, dilation, groups,
                                           scaling, need_w, need_bias, need_A or need_B)
    return (dx,
            cast_to(dw, weight.dtype, weight.shape) if need_w else empty_grad(x),
            cast_to(dbias, x.dtype) if need_bias else empty_grad(x),
            cast_to(da, lora_A.dtype) if need_A else empty_grad(x),
            cast_to(db, lora_B.dtype) if need_B else empty_grad(x))
