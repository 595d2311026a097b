"""The split form of the EKS conv: the base convolution as the plain layer runs it (cuDNN on a
GPU, through ``aten_conv``), and Triton kernels for the expert branch only.

This is the form of the multi-LoRA serving systems (SGMV): the base GEMM costs exactly what
``nn.Conv2d`` costs, and the branch adds three light passes over rank-r intermediates:

* forward: ``y = conv(x, W0, bias)``; ``u = A_t im2col(x)`` (:func:`branch_shrink_kernel`, x
  read once, r outputs per output pixel); ``y += s B_t u`` in place (:func:`branch_expand_kernel`);
* input gradient: ``dx = conv_input_grad(dy, W0)``; ``v = s B_t^T dy`` (the shrink kernel on dy
  as a 1x1 conv); ``dx += col2im(A_t^T v)``, an implicit transposed conv of v accumulated into dx
  (the expand kernel with the conv's taps, stride and dilation);
* weight gradients: dW0 and dbias from the base's backward; per task segment
  ``dB_t = s sum dy u^T`` and ``dA_t = sum v im2col(x)^T`` (:func:`segment_outer_kernel`).

u and v are (N, groups * r, H_out, W_out) images in the accumulation dtype: the only tensors
beyond the plain conv's that reach global memory. Every kernel runs on rows = (sample, pixel) in
task order from the batch's task plan (``segments.py``: one expert per tile, a static grid, no
host sync), and follows the task-id contract of the fused kernels: tiles of out-of-range ids store
NaN (into y, v and dx), and the weight gradients of such a batch are NaN.

One kernel serves two uses through strides: the expert matrix ``M`` is addressed as
``task * smt + group * smg + j * smj + col * smc (+ tap)``, which reads ``A_t`` or ``B_t^T``
without copies.
"""

from __future__ import annotations

from typing import Sequence

import torch
import triton
import triton.language as tl

from .. import aten_conv
from . import configs, conv, limits, segments
from ._tiles import (_acc_dtype, _bad_ids, _dtype_flags, _im2col_tile, _operand, _plan_tile,
                     _rank_dot, _rank_flags,
                     _scale, _tap_source)


@triton.jit
def _zero_share(z_ptr, z_n, BLOCK: tl.constexpr):
    """This program's share of zeroing ``z_n`` elements at ``z_ptr``, spread over the grid."""
    program = tl.program_id(0) * tl.num_programs(1) + tl.program_id(1)
    programs = tl.num_programs(0) * tl.num_programs(1)
    for start in range(program * BLOCK, z_n, programs * BLOCK):
        offsets = start + tl.arange(0, BLOCK)
        tl.store(z_ptr + offsets, tl.zeros((BLOCK,), z_ptr.dtype.element_ty), mask=offsets < z_n)


@triton.jit
def branch_shrink_kernel(
        x_ptr, m_ptr, u_ptr, order_ptr, bounds_ptr, num_tasks, scale_hi, scale_lo,
        z0_ptr, z0_n, z1_ptr, z1_n,
        c_in_g, height, width, out_w, out_positions, depth, rank,
        smt, smg, smj, smk,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sxn, sxc, sxh, sxw, sun, suc, suh, suw,
        KH: tl.constexpr, KW: tl.constexpr, R: tl.constexpr, FMA_RANK: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr, HAS_ORDER: tl.constexpr,
        ZERO: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """u[n, g*rank + j, p] = scale * sum_k M_t[j, k] * im2col(x)[n, g, k, p]: each x tile is
    loaded once and meets all r rows of M_t in one dot. With ``ZERO`` the grid also zeroes two
    accumulators for a later kernel (the split backward's dA/dB): a fill without its own launch."""
    if ZERO:
        _zero_share(z0_ptr, z0_n, 256)
        _zero_share(z1_ptr, z1_n, 256)
    task, n, p, row_ok = _plan_tile(bounds_ptr, order_ptr, num_tasks, tl.program_id(0),
                                    out_positions, HAS_ORDER, BLOCK_M)
    if task == -1:
        return
    bad_ids = task == -2        # out-of-range ids: expert 0, then NaN (as the fused kernels)
    task = tl.maximum(task, 0)
    group = tl.program_id(1)
    oh, ow = p // out_w, p % out_w
    r = tl.arange(0, R)
    r_ok = r < rank
    x_rows = x_ptr + n * sxn + (group * c_in_g).to(tl.int64) * sxc
    m_task = m_ptr + task.to(tl.int64) * smt + group * smg
    acc = tl.zeros((BLOCK_M, R), dtype=ACC)
    for k0 in range(0, depth, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        x_tile = _im2col_tile(x_rows, k, depth, oh, ow, row_ok, sxc, sxh, sxw, height, width,
                              stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, KH, KW)
        m_tile = tl.load(m_task + r[None, :] * smj + k[:, None] * smk,
                         mask=(k < depth)[:, None] & r_ok[None, :], other=0.0)
        acc = _rank_dot(_operand(x_tile, UPCAST), _operand(m_tile, UPCAST), acc, FMA_RANK,
                        PRECISION, ACC)
    acc = _scale(scale_hi, scale_lo, ACC) * acc
    acc = tl.where(bad_ids, float("nan"), acc)
    u_ptrs = (u_ptr + n[:, None] * sun + (group * rank + r[None, :]).to(tl.int64) * suc
              + oh[:, None] * suh + ow[:, None] * suw)
    tl.store(u_ptrs, acc.to(u_ptr.dtype.element_ty), mask=row_ok[:, None] & r_ok[None, :])


@triton.jit
def branch_expand_kernel(
        u_ptr, m_ptr, out_ptr, order_ptr, bounds_ptr, num_tasks, scale_hi, scale_lo,
        cols_g, u_h, u_w, width, positions, rank,
        smt, smg, smj, smc,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sun, suc, suh, suw, son, soc, soh, sow,
        KH: tl.constexpr, KW: tl.constexpr, R: tl.constexpr, FMA_RANK: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, HAS_ORDER: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """out[n, g*cols_g + c, h, w] += scale * sum_tap sum_j u[n, g*rank + j, pixel(tap)] *
    M_t[c, j, tap]: with 1x1 taps the expand ``y += s B_t u``; with the conv's taps the
    transposed conv ``dx += col2im(A_t^T v)`` (stride and dilation as a divisibility mask)."""
    task, n, p, row_ok = _plan_tile(bounds_ptr, order_ptr, num_tasks, tl.program_id(0),
                                    positions, HAS_ORDER, BLOCK_M)
    if task == -1:
        return
    bad_ids = task == -2
    task = tl.maximum(task, 0)
    group = tl.program_id(2)
    h, w = p // width, p % width
    c = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ok = c < cols_g
    r = tl.arange(0, R)
    r_ok = r < rank
    u_rows = u_ptr + n * sun + (group * rank).to(tl.int64) * suc
    m_task = m_ptr + task.to(tl.int64) * smt + group * smg
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=ACC)
    for tap in range(0, KH * KW):
        uh, uw, pix_ok = _tap_source(h, w, row_ok, tap, u_h, u_w, stride_h, stride_w, pad_h,
                                     pad_w, dil_h, dil_w, KW)
        u_tile = tl.load(u_rows[:, None] + r[None, :] * suc + (uh * suh + uw * suw)[:, None],
                         mask=pix_ok[:, None] & r_ok[None, :], other=0.0)
        m_tile = tl.load(m_task + r[:, None] * smj + c[None, :] * smc + tap,
                         mask=r_ok[:, None] & c_ok[None, :], other=0.0)
        acc = _rank_dot(u_tile.to(ACC), m_tile.to(ACC), acc, FMA_RANK, PRECISION, ACC)
    out_ptrs = (out_ptr + n[:, None] * son + (group * cols_g + c[None, :]).to(tl.int64) * soc
                + h[:, None] * soh + w[:, None] * sow)
    out_ok = row_ok[:, None] & c_ok[None, :]
    total = tl.load(out_ptrs, mask=out_ok, other=0.0).to(ACC) + _scale(scale_hi, scale_lo, ACC) * acc
    total = tl.where(bad_ids, float("nan"), total)
    tl.store(out_ptrs, total.to(out_ptr.dtype.element_ty), mask=out_ok)


@triton.jit
def segment_outer_kernel(
        left_ptr, right_ptr, out_ptr, order_ptr, bounds_ptr, num_tasks, scale_hi, scale_lo,
        groups, left_g, right_cg, out_g, out_rows, height, width, out_w, positions, depth,
        stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
        sln, slc, slh, slw, srn, src, srh, srw,
        KH: tl.constexpr, KW: tl.constexpr, SPLIT: tl.constexpr, FMA_RANK: tl.constexpr,
        ACC: tl.constexpr, PRECISION: tl.constexpr, HAS_ORDER: tl.constexpr,
        BLOCK_A: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr):
    """out[t, g*out_g + a, k] += scale * sum over task t's rows of left[n, g*left_g + a, p] *
    im2col(right)[n, g, k, p]: ``dA_t`` (left v, right x; out_g 0 sums the groups) and ``dB_t``
    (left dy, right u as a 1x1 image). One program per (a tile, k tile, task, group, row split);
    partial sums meet through atomics in an accumulation-dtype buffer. A batch with an
    out-of-range id gets NaN everywhere (every program adds NaN to its tile)."""
    a = tl.program_id(1) * BLOCK_A + tl.arange(0, BLOCK_A)
    a_ok = a < left_g
    k = tl.program_id(2) * BLOCK_K + tl.arange(0, BLOCK_K)
    k_ok = k < depth
    split = tl.program_id(0) % SPLIT
    group = (tl.program_id(0) // SPLIT) % groups
    task = tl.program_id(0) // (SPLIT * groups)
    begin = tl.load(bounds_ptr + task + 1) * positions
    end = tl.load(bounds_ptr + task + 2) * positions
    chunk = tl.cdiv(end - begin, SPLIT)
    lo = begin + split * chunk
    hi = tl.minimum(lo + chunk, end)
    right_group = right_ptr + (group * right_cg).to(tl.int64) * src
    acc = tl.zeros((BLOCK_A, BLOCK_K), dtype=ACC)
    for q0 in range(lo, hi, BLOCK_P):
        q = q0 + tl.arange(0, BLOCK_P)
        q_ok = q < hi
        n = q // positions
        if HAS_ORDER:
            n = tl.load(order_ptr + n, mask=q_ok, other=0)
        n = n.to(tl.int64)
        p = q % positions
        oh, ow = p // out_w, p % out_w
        left_tile = tl.load(left_ptr + n[None, :] * sln + (group * left_g + a)[:, None] * slc
                            + (oh * slh + ow * slw)[None, :],
                            mask=a_ok[:, None] & q_ok[None, :], other=0.0)
        right_tile = _im2col_tile(right_group + n * srn, k, depth, oh, ow, q_ok, src, srh, srw,
                                  height, width, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                                  KH, KW)
        acc = _rank_dot(left_tile.to(ACC), right_tile.to(ACC), acc, FMA_RANK, PRECISION, ACC)
    bad = _bad_ids(bounds_ptr, num_tasks)
    acc = tl.where(bad, float("nan"), _scale(scale_hi, scale_lo, ACC) * acc)
    tl.atomic_add(out_ptr + (task * out_rows + group * out_g + a[:, None]) * depth + k[None, :],
                  acc, mask=a_ok[:, None] & k_ok[None, :] & ((lo < hi) | bad))


# ----------------------------------------------------------------------------- launchers


def _options(tiles) -> dict:
    return {} if configs.INTERPRETING else dict(num_warps=tiles.num_warps,
                                                num_stages=tiles.num_stages)


def _acc_flags(dtype: torch.dtype, tf32: bool) -> dict:
    """ACC and PRECISION of ``_tiles._dtype_flags``: the kernels whose dots run on upcast tiles."""
    flags = _dtype_flags(dtype, tf32)
    return dict(ACC=flags["ACC"], PRECISION=flags["PRECISION"])


def shrink(x: torch.Tensor, m: torch.Tensor, m_strides: Sequence[int],
           plan: segments.KernelPlan, num_tasks: int, rank: int, out_size: Sequence[int],
           kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
           dilation: Sequence[int], groups: int, scaling: float,
           zero: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """(N, groups * rank, H_out, W_out) in the accumulation dtype: ``scaling * M_t im2col(x)``
    per group, with ``m_strides = (task, group, j, k)`` addressing M_t's (rank, K) rows. The
    (up to two) tensors of ``zero`` are zeroed by the same launch."""
    batch, c_in, height, width = x.shape
    out_h, out_w = out_size
    # in the accumulation dtype: the rank-r intermediate keeps the precision the fused kernels'
    # registers give it
    u = conv.empty_output((batch, groups * rank, out_h, out_w),
                          x.new_empty((0,), dtype=_acc_dtype(x.dtype)))
    positions = out_h * out_w
    if batch * positions == 0:
        for t in zero:
            t.zero_()
        return u
    depth = c_in // groups * kernel_size[0] * kernel_size[1]
    tiles = configs.branch_tiles(batch * positions, depth)
    num_tiles = segments.max_tiles(batch, positions, num_tasks, tiles.block_m)
    grid = limits.checked_grid((num_tiles, groups), "the split form's shrink")
    torch.library.wrap_triton(branch_shrink_kernel)[grid](
        x, m, u, *conv.plan_args(plan, num_tasks), *conv.scale_args(scaling),
        *_zero_args(zero, u), c_in // groups, height, width, out_w, positions, depth, rank,
        *m_strides,
        stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        *x.stride(), *u.stride(),
        KH=kernel_size[0], KW=kernel_size[1], **_rank_flags(x.dtype, plan.tf32, rank),
        **_dtype_flags(x.dtype, plan.tf32), HAS_ORDER=plan.has_order, ZERO=bool(zero),
        BLOCK_M=tiles.block_m, BLOCK_K=tiles.block_cols, **_options(tiles))
    return u


def _zero_args(zero: Sequence[torch.Tensor], placeholder: torch.Tensor) -> tuple:
    pairs = [(t, t.numel()) for t in zero] + [(placeholder, 0)] * (2 - len(zero))
    return tuple(item for pair in pairs for item in pair)


def expand_into(out: torch.Tensor, u: torch.Tensor, m: torch.Tensor, m_strides: Sequence[int],
                plan: segments.KernelPlan, num_tasks: int, rank: int,
                kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                dilation: Sequence[int], groups: int, scaling: float) -> torch.Tensor:
    """``out += scaling * (transposed conv of u with M_t)`` in place, ``m_strides = (task, group,
    j, col)``, taps contiguous."""
    batch, cols, height, width = out.shape
    positions = height * width
    if batch * positions == 0:
        return out
    cols_g = cols // groups
    tiles = configs.branch_tiles(batch * positions, cols_g)
    num_tiles = segments.max_tiles(batch, positions, num_tasks, tiles.block_m)
    grid = limits.checked_grid((num_tiles, triton.cdiv(cols_g, tiles.block_cols), groups),
                               "the split form's expand")
    torch.library.wrap_triton(branch_expand_kernel)[grid](
        u, m, out, *conv.plan_args(plan, num_tasks), *conv.scale_args(scaling),
        cols_g, u.shape[2], u.shape[3], width, positions, rank, *m_strides,
        stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        *u.stride(), *out.stride(),
        KH=kernel_size[0], KW=kernel_size[1],
        **_rank_flags(out.dtype, plan.tf32, rank, upcast=True),
        **_acc_flags(out.dtype, plan.tf32), HAS_ORDER=plan.has_order, BLOCK_M=tiles.block_m,
        BLOCK_N=tiles.block_cols, **_options(tiles))
    return out


def segment_grid(num_tasks: int, groups: int, left_g: int, depth: int, tiles) -> tuple:
    """The dA/dB grid: (task, group, row split) on the first axis, the only one allowed more than
    65535 programs (T = 64 tasks on a 1152-channel depthwise conv are 73728)."""
    return limits.checked_grid((num_tasks * groups * tiles.split,
                                triton.cdiv(left_g, tiles.block_co),
                                triton.cdiv(depth, tiles.block_k)), "the split form's dA/dB")


def segment_outer(out: torch.Tensor, left: torch.Tensor, left_g: int, right: torch.Tensor,
                  right_cg: int, out_g: int, plan: segments.KernelPlan, rank: int,
                  kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                  dilation: Sequence[int], groups: int, scaling: float) -> torch.Tensor:
    """``out[t] += scaling * sum over task t's rows of left x im2col(right)^T`` (see
    :func:`segment_outer_kernel`); ``out`` (T, rows, depth) in the accumulation dtype; one of
    ``left_g`` and ``depth`` is the ``rank``."""
    batch, _, out_h, out_w = left.shape
    num_tasks, out_rows, depth = out.shape
    positions = out_h * out_w
    if batch * positions == 0:
        return out
    rank_flags = _rank_flags(out.dtype, plan.tf32, rank, upcast=True)
    # with multiply-adds the rank's side of the tile need not reach the dot's minimum
    low = rank_flags["R"] if rank_flags["FMA_RANK"] else configs.MIN_DOT
    tiles = configs.segment_tiles(left_g, depth, batch * positions, num_tasks * groups, low)
    grid = segment_grid(num_tasks, groups, left_g, depth, tiles)
    torch.library.wrap_triton(segment_outer_kernel)[grid](
        left, right, out, *conv.plan_args(plan, num_tasks), *conv.scale_args(scaling),
        groups, left_g, right_cg, out_g, out_rows, right.shape[2], right.shape[3], out_w,
        positions, depth,
        stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        *left.stride(), *right.stride(),
        KH=kernel_size[0], KW=kernel_size[1], SPLIT=tiles.split, FMA_RANK=rank_flags["FMA_RANK"],
        **_acc_flags(out.dtype, plan.tf32), HAS_ORDER=plan.has_order, BLOCK_A=tiles.block_co,
        BLOCK_K=tiles.block_k, BLOCK_P=tiles.block_p,
        **({} if configs.INTERPRETING else dict(num_warps=tiles.num_warps, num_stages=2)))
    return out


# ----------------------------------------------------------------------------- the two ops

_ONE, _ZERO = (1, 1), (0, 0)


def _a_strides(lora_A: torch.Tensor) -> tuple:
    """A_t (r, K) as M_t[j, k]: (task, group, j, k) strides; every group reads the same A_t."""
    return lora_A.stride(0), 0, lora_A.stride(1), lora_A.stride(2)


def _b_strides(lora_B: torch.Tensor, c_out_g: int) -> tuple:
    """B_t's rows of group g, ``B_t[g * c_out_g + c, j]``, as M_t[j, c]: (task, group, j, c)
    strides. The shrink reads it as B_t^T (r, C_out/groups), the expand as B_t."""
    return lora_B.stride(0), c_out_g * lora_B.stride(1), lora_B.stride(2), lora_B.stride(1)


def conv2d_forward(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
                   scaling):
    lora_A, lora_B = lora_A.contiguous(), lora_B.contiguous()
    num_tasks, rank, _ = lora_A.shape
    plan = segments.kernel_plan(task_ids, num_tasks, "conv")
    y = aten_conv.conv2d(x, weight, bias, stride, padding, dilation, groups)
    u = shrink(x, lora_A, _a_strides(lora_A), plan, num_tasks, rank, y.shape[2:],
               weight.shape[2:], stride, padding, dilation, groups, 1.0)
    # y += s B_t u: the expand is a 1x1 "transposed conv" of u with B_t. The ops return
    # contiguous tensors (their fake kernels say so); cuDNN keeps a channels-last x's format.
    y = y.contiguous()
    return expand_into(y, u, lora_B, _b_strides(lora_B, weight.shape[0] // groups), plan,
                       num_tasks, rank, _ONE, _ONE, _ZERO, _ONE, groups, scaling)


def conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation,
                    groups, scaling, output_mask):
    need_x, need_w, need_bias, need_A, need_B = output_mask
    if need_A or need_B:        # dW0 and dbias come from cuDNN; dA and dB sum with atomics
        limits.alert_nondeterministic("the EKS conv's expert gradients (split form)")
    lora_A, lora_B = lora_A.contiguous(), lora_B.contiguous()
    num_tasks, rank, depth = lora_A.shape
    plan = segments.kernel_plan(task_ids, num_tasks, "conv")
    c_out = weight.shape[0]
    c_out_g = c_out // groups
    acc = _acc_dtype(x.dtype)
    # the plain layer's backward, in one call: dx, dW0 and dbias
    dx, dw, dbias = aten_conv.conv2d_grads(grad_out, x, weight, stride, padding, dilation,
                                           groups, (need_x, need_w, need_bias))
    if need_x:
        dx = dx.contiguous()   # as y in the forward: the op's contract, not cuDNN's format
    # dA/dB accumulators, zeroed by the first shrink below (no launch of their own)
    da = torch.empty(lora_A.shape, dtype=acc, device=x.device)
    db = torch.empty(lora_B.shape, dtype=acc, device=x.device)
    to_zero = [t for t, need in ((da, need_A), (db, need_B)) if need]
    v = None
    if need_x or need_A:
        # v = s B_t^T dy: the shrink kernel on dy as a 1x1 conv, M_t = B_t^T
        v = shrink(grad_out, lora_B, _b_strides(lora_B, c_out_g), plan, num_tasks, rank,
                   grad_out.shape[2:], _ONE, _ONE, _ZERO, _ONE, groups, scaling, to_zero)
        to_zero = []
    if need_x:
        # dx += col2im(A_t^T v): M_t[ci, j, tap] = A_t[j, ci * KH*KW + tap]
        taps = weight.shape[2] * weight.shape[3]
        expand_into(dx, v, lora_A, (lora_A.stride(0), 0, lora_A.stride(1), taps), plan,
                    num_tasks, rank, weight.shape[2:], stride, padding, dilation, groups, 1.0)
    if need_A:
        segment_outer(da, v, rank, x, x.shape[1] // groups, 0, plan, rank, weight.shape[2:],
                      stride, padding, dilation, groups, 1.0)
    if need_B:
        u = shrink(x, lora_A, _a_strides(lora_A), plan, num_tasks, rank, grad_out.shape[2:],
                   weight.shape[2:], stride, padding, dilation, groups, 1.0, to_zero)
        segment_outer(db, grad_out, c_out_g, u, rank, c_out_g, plan, rank, _ONE, _ONE, _ZERO,
                      _ONE, groups, scaling)
    # dA and dB are NaN for a batch with out-of-range ids (the kernels add it); dW0 and dbias,
    # which cuDNN computed, are made so here, on the device, where the host did not check ids.
    if not plan.checked and (need_w or need_bias):
        bad = segments.bad_ids_flag(plan, num_tasks)
        dw = dw.masked_fill(bad, float("nan")) if need_w else dw
        dbias = dbias.masked_fill(bad, float("nan")) if need_bias else dbias
    grads = [grad.to(like.dtype).contiguous() if need else conv.empty_grad(x)
             for grad, need, like in ((dw, need_w, weight), (dbias, need_bias, x),
                                      (da, need_A, lora_A), (db, need_B, lora_B))]
    return (dx if need_x else conv.empty_grad(x), *grads)
