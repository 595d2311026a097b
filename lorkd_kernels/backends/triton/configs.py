"""Tile sizes of the Triton kernels, on a GPU and under the interpreter.

On a GPU every kernel has one tile set: the only ones found free of register spills (below). There
is no autotuner: with one spill-free candidate it has nothing to choose, and the weight-gradient
kernels reduce with atomics, which a benchmarking autotuner would apply several times. Under
``TRITON_INTERPRET=1`` tiles are as large as the problem allows, since the interpreter's cost is
per program instance, not per element. ``BLOCK_M`` (rows per tile) also sizes the static grid
(``segments.max_tiles``) the launcher computes before the launch.

Every tile here keeps the kernels free of register spills on sm_80 and sm_90 in fp32, fp16 and
bf16 (``benchmarks/triton_resources.md``; a slow test compiles them all and fails on a spill).
Even these tiles take 78-255 registers per thread while their accumulators take 8 or fewer
(64 x 32 over 256 threads), so most go to index math, pointers and masks. Every earlier config
spilled (fp32 worst, up to kilobytes per thread), and so did 128-row tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import triton

from ..registry import triton_interpreting

INTERPRETING = triton_interpreting()
MIN_DOT = 16  # tl.dot needs every dimension >= 16
MAX_BLOCK = 128


def _pow2(n: int, low: int = MIN_DOT, high: int = MAX_BLOCK) -> int:
    return max(low, min(high, triton.next_power_of_2(max(n, 1))))


def rank_block(rank: int, arithmetic: str = "dot") -> int:
    """Padded rank R: the shrink/expand run on (rows x R) and (R x cols) tiles; ``tl.dot`` needs
    R >= MIN_DOT, the multiply-adds (``costs.rank_arithmetic``) a power of two only."""
    if arithmetic == "fma":
        return triton.next_power_of_2(max(rank, 1))
    return _pow2(rank, high=max(MIN_DOT, triton.next_power_of_2(rank)))


# (BLOCK_N, BLOCK_K, warps, stages) the forward and dgrad kernels compile without spills for
# BLOCK_M = 64, 3x3 and 1x1. Tried and spilling: (32, 32, 8, 2) in dgrad on sm_80, (64, 16, 8, 2)
# in both kernels on sm_80, (32, 16, 4, 2) on sm_80 and in fp32, (16, 16, 8, 2) in the 1x1 dgrad
# in fp32 on sm_80 (one stage fewer did not help there). (32, 16, 8, 2) spilled 20 bytes in the
# 3x3 forward in fp32 on sm_90 once the kernel stored NaN for out-of-range task ids; with one
# stage it holds 222 registers and does not spill.
GEMM_TILE = (32, 16, 8, 1)


@dataclass(frozen=True)
class GemmTiles:
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


def block_rows(rows: int) -> int:
    """Rows per tile for a problem with ``rows`` output rows in all: 64 on a GPU, since 128-row
    tiles spill even at (BLOCK_N, BLOCK_K) = (32, 16) with 8 warps."""
    if INTERPRETING:
        return _pow2(rows)
    return 64


def gemm_tiles(rows: int, cols: int, depth: int) -> GemmTiles:
    """Tiles for a (rows x depth) @ (depth x cols) implicit GEMM (forward, input gradient): on a
    GPU, GEMM_TILE in every dtype (fp16/bf16's larger K tiles spilled too)."""
    block_m = block_rows(rows)
    if INTERPRETING:
        return GemmTiles(block_m, _pow2(cols), _pow2(depth), 4, 1)
    return GemmTiles(block_m, *GEMM_TILE)


@dataclass(frozen=True)
class WgradTiles:
    block_co: int
    block_k: int
    block_p: int
    split: int  # programs sharing the row range of each (co, k) tile
    num_warps: int


def wgrad_tiles(c_out_per_group: int, depth: int, rows: int, groups: int) -> WgradTiles:
    if INTERPRETING:
        return WgradTiles(_pow2(c_out_per_group), _pow2(depth), _pow2(rows), 1, 4)
    # (64, 64, 64) and (32, 32, 64) with 4 warps spilled kilobytes per thread in fp32,
    # (32, 16, 32) with 8 warps tens of bytes in the 1x1 kernel (fp16/bf16, sm_80); not these
    block_co, block_k, block_p = _pow2(c_out_per_group, high=32), MIN_DOT, MIN_DOT
    tiles = triton.cdiv(c_out_per_group, block_co) * triton.cdiv(depth, block_k) * groups
    # enough programs to fill ~132 SMs a few times over, each still reducing >= 4 row blocks
    split = max(1, min(512 // max(tiles, 1), rows // (4 * block_p)))
    return WgradTiles(block_co, block_k, block_p, split, 8)


# The split form's branch kernels (split.py): rank-r shrink and expand over rows = (sample,
# pixel), and the per-task segment reductions of dA/dB.


@dataclass(frozen=True)
class BranchTiles:
    block_m: int
    block_cols: int  # the shrink's K step; the expand's output channels per tile
    num_warps: int
    num_stages: int


# (BLOCK_M, BLOCK_COLS, warps, stages) of the shrink and expand kernels on a GPU. Their
# accumulators are small ((64 x 16) each), but the gathers' index math is not: with 4 warps
# (64, 32) took 246-255 registers and spilled (bf16 shrink, one stage; every expand), and (64, 16)
# spilled 248 bytes in the 3x3 expand; 8 warps halve the per-thread tiles (96-201 registers).
BRANCH_TILES = (64, 16, 8, 2)


def branch_tiles(rows: int, cols: int) -> BranchTiles:
    if INTERPRETING:
        return BranchTiles(_pow2(rows), _pow2(cols), 4, 1)
    return BranchTiles(*BRANCH_TILES)


def segment_tiles(
    rows_per_output: int, depth: int, rows: int, segments: int, low: int = MIN_DOT
) -> WgradTiles:
    """Tiles of the segment reduction ``out[t] += left_t^T im2col(right)_t`` (dA: r x K, dB:
    C_out/groups x r) over ``rows`` rows split into ``segments`` (task, group) runs; ``low``:
    the smallest output tile side (below MIN_DOT where the kernel multiplies and adds instead of
    ``tl.dot``)."""
    if INTERPRETING:
        return WgradTiles(_pow2(rows_per_output, low), _pow2(depth, low), _pow2(rows), 1, 4)
    # (32, 32, 32) with 4 warps took 212-221 registers, and 12 bytes of spills in dB (fp16,
    # sm_90); 16-row blocks bring it to about 160
    block_a, block_k = _pow2(rows_per_output, low, 32), _pow2(depth, low, 32)
    block_p = MIN_DOT
    tiles = triton.cdiv(rows_per_output, block_a) * triton.cdiv(depth, block_k) * segments
    # as wgrad_tiles: fill the SMs a few times over, each program reducing >= 4 row blocks of
    # an average segment
    split = max(1, min(512 // max(tiles, 1), rows // max(1, 4 * block_p * segments)))
    return WgradTiles(block_a, block_k, block_p, split, 4)
