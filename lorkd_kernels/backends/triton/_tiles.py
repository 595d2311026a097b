"""What the Triton kernels of ``conv.py`` and ``split.py`` share: the JIT helpers that read a
tile's task plan, gather an im2col tile, scale and upcast operands, multiply by a rank-r factor,
and the launch flags of a dtype and rank. Private to the two modules (their names keep the
underscore they had in ``conv.py``)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ...expert_weights import accumulate_dtype
from . import configs, costs

_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


@triton.jit
def _rank_dot(lhs, rhs, acc, FMA_RANK: tl.constexpr, PRECISION: tl.constexpr,
              ACC: tl.constexpr):
    """acc + lhs @ rhs where one side's dimension is the rank: a ``tl.dot`` (the rank padded to
    16), or with ``FMA_RANK`` multiply-adds on the CUDA cores in the accumulation dtype (the rank
    padded to a power of two only; ``costs.rank_arithmetic`` chooses)."""
    # one return after both branches: the compiler would also emit what follows a return
    # inside a compile-time if
    if FMA_RANK:
        out = acc + tl.sum(lhs.to(ACC)[:, :, None] * rhs.to(ACC)[None, :, :], axis=1)
    else:
        out = tl.dot(lhs, rhs, acc, input_precision=PRECISION)
    return out


@triton.jit
def _operand(t, UPCAST: tl.constexpr):
    # The interpreter's bf16 dot is wrong; bf16 x bf16 products are exact in fp32, so an fp32
    # dot of the upcast tiles computes what the GPU's bf16 dot with fp32 accumulation does.
    if UPCAST:
        return t.to(tl.float32)
    return t


@triton.jit
def _plan_tile(bounds_ptr, order_ptr, num_tasks, tile, positions, HAS_ORDER: tl.constexpr,
               BLOCK_M: tl.constexpr):
    """Task of a tile (-1: empty, -2: out-of-range ids), and its rows as (sample, position,
    mask), found from the plan's T + 3 segment bounds (``segments.py``): the segments' tiles
    are numbered in order, ``cdiv(rows, BLOCK_M)`` per segment."""
    zero = tl.load(bounds_ptr) * 0          # an int64 scalar: loop-carried values keep one type
    seen, task, begin, end = zero, zero - 1, zero, zero
    for s in range(0, num_tasks + 2):
        lo = tl.load(bounds_ptr + s) * positions
        hi = tl.load(bounds_ptr + s + 1) * positions
        count = (hi - lo + BLOCK_M - 1) // BLOCK_M
        hit = (tile >= seen) & (tile < seen + count)
        bad = (s == 0) | (s == num_tasks + 1)
        task = tl.where(hit, tl.where(bad, -2, s - 1), task)
        begin = tl.where(hit, lo + (tile - seen) * BLOCK_M, begin)
        end = tl.where(hit, hi, end)
        seen += count
    rows = begin + tl.arange(0, BLOCK_M)
    row_ok = rows < tl.minimum(end, begin + BLOCK_M)
    sample = rows // positions
    if HAS_ORDER:
        sample = tl.load(order_ptr + sample, mask=row_ok, other=0)
    return task, sample.to(tl.int64), rows % positions, row_ok


@triton.jit
def _scale(scale_hi, scale_lo, ACC: tl.constexpr):
    """The layer's scaling in the accumulation dtype from two fp32 kernel arguments (hi + lo:
    exact to about 2^-48, enough for fp64; no device tensor, so nothing is launched for it)."""
    return tl.cast(scale_hi, ACC) + tl.cast(scale_lo, ACC)


@triton.jit
def _bad_ids(bounds_ptr, num_tasks):
    """Whether the batch holds an out-of-range id (segment 0 or T + 1 is not empty)."""
    return ((tl.load(bounds_ptr + 1) > 0)
            | (tl.load(bounds_ptr + num_tasks + 1) < tl.load(bounds_ptr + num_tasks + 2)))


@triton.jit
def _im2col_tile(x_rows, k, depth, oh, ow, row_ok, sxc, sxh, sxw, height, width,
                 stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, KH: tl.constexpr,
                 KW: tl.constexpr):
    """The (rows x K) tile of im2col(x) at output pixels (oh, ow) of the samples whose group's
    first channel is at ``x_rows``, columns k = (input channel, tap); zero in the padding."""
    k_ok = k < depth
    ci, tap = k // (KH * KW), k % (KH * KW)
    ih = oh[:, None] * stride_h - pad_h + (tap // KW)[None, :] * dil_h
    iw = ow[:, None] * stride_w - pad_w + (tap % KW)[None, :] * dil_w
    x_ok = (row_ok[:, None] & k_ok[None, :] & (ih >= 0) & (ih < height) & (iw >= 0)
            & (iw < width))
    return tl.load(x_rows[:, None] + ci[None, :] * sxc + ih * sxh + iw * sxw, mask=x_ok,
                   other=0.0)


@triton.jit
def _tap_source(h, w, row_ok, tap, src_h, src_w, stride_h, stride_w, pad_h, pad_w, dil_h,
                dil_w, KW: tl.constexpr):
    """The pixel (sh, sw) of a conv's output that pixel (h, w) of its input meets through
    kernel tap ``tap``, and whether there is one (stride and dilation as divisibility)."""
    sh_num = h + pad_h - (tap // KW) * dil_h
    sw_num = w + pad_w - (tap % KW) * dil_w
    sh = tl.where(sh_num >= 0, sh_num, 0) // stride_h
    sw = tl.where(sw_num >= 0, sw_num, 0) // stride_w
    ok = (row_ok & (sh_num >= 0) & (sw_num >= 0) & (sh_num % stride_h == 0)
          & (sw_num % stride_w == 0) & (sh < src_h) & (sw < src_w))
    return sh, sw, ok


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return accumulate_dtype(dtype)


def _precision(dtype: torch.dtype, tf32: bool) -> str:
    """fp32 operands as the plain layer computes them: TF32 where torch's switch for that layer
    kind allows it (``segments.tf32_allowed``), exact fp32 products otherwise."""
    if dtype == torch.float32 and not configs.INTERPRETING and tf32:
        return "tf32"
    return "ieee"


def _rank_flags(dtype: torch.dtype, tf32: bool, rank: int, upcast: bool = False) -> dict:
    """R and FMA_RANK of a launch whose dots take ``dtype`` operands (``upcast``: operands upcast
    to the accumulation dtype, TF32 only for fp32 layers): the arithmetic
    ``costs.rank_arithmetic`` finds cheaper on a GPU (the same choice under the interpreter, so
    its tests run the arithmetic a GPU would)."""
    if upcast:
        peak = costs.dot_peak(4, tf32) if dtype == torch.float32 else None
    else:
        peak = costs.dot_peak(dtype.itemsize, tf32)
    arithmetic = costs.rank_arithmetic(rank, peak)
    return dict(R=configs.rank_block(rank, arithmetic), FMA_RANK=arithmetic == "fma")


def _dtype_flags(dtype: torch.dtype, tf32: bool) -> dict:
    return dict(ACC=_TL_DTYPES[_acc_dtype(dtype)], PRECISION=_precision(dtype, tf32),
                UPCAST=configs.INTERPRETING and dtype == torch.bfloat16)
