"""Tile sizes: autotune configs for A100/H100-class GPUs and the heuristic used without them.

``BLOCK_M`` (rows per tile) is always chosen here, not by the autotuner, because it sizes the
tile table the launcher builds before the launch. The autotuner picks ``BLOCK_N``, ``BLOCK_K``,
warps and stages for the forward and input-gradient kernels. The weight-gradient kernel reduces
with atomics, which a benchmarking autotuner would apply several times, so it always takes the
heuristic. ``LORKD_TRITON_AUTOTUNE=0`` turns autotuning off; under ``TRITON_INTERPRET=1`` it is
always off and tiles are as large as the problem allows, since the interpreter's cost is per
program instance, not per element.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import triton

from ..registry import triton_interpreting

INTERPRETING = triton_interpreting()
MIN_DOT = 16        # tl.dot needs every dimension >= 16
MAX_BLOCK = 128


def _pow2(n: int, low: int = MIN_DOT, high: int = MAX_BLOCK) -> int:
    return max(low, min(high, triton.next_power_of_2(max(n, 1))))


def autotune_enabled() -> bool:
    return not INTERPRETING and os.environ.get("LORKD_TRITON_AUTOTUNE", "1") != "0"


def rank_block(rank: int) -> int:
    """Padded rank: the shrink/expand dots run on (rows x R) and (R x cols) tiles."""
    return _pow2(rank, high=max(MIN_DOT, triton.next_power_of_2(rank)))


def gemm_configs() -> list:
    """Candidates for the implicit-GEMM kernels (forward, input gradient)."""
    configs = []
    for block_n, block_k, warps, stages in ((128, 32, 4, 4), (128, 64, 8, 3), (64, 32, 4, 4),
                                            (64, 64, 4, 3), (32, 64, 4, 4), (128, 32, 8, 3),
                                            (16, 64, 2, 4)):
        configs.append(triton.Config({"BLOCK_N": block_n, "BLOCK_K": block_k},
                                     num_warps=warps, num_stages=stages))
    return configs


@dataclass(frozen=True)
class GemmTiles:
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int


def block_rows(rows: int) -> int:
    """Rows per tile for a problem with ``rows`` output rows in all."""
    if INTERPRETING:
        return _pow2(rows)
    return 128 if rows >= 16384 else 64


def gemm_tiles(rows: int, cols: int, depth: int, half: bool) -> GemmTiles:
    """Heuristic tiles for a (rows x depth) @ (depth x cols) implicit GEMM."""
    block_m = block_rows(rows)
    if INTERPRETING:
        return GemmTiles(block_m, _pow2(cols), _pow2(depth), 4, 1)
    block_n = _pow2(cols, high=128)
    block_k = 64 if half and depth >= 64 else 32
    warps = 8 if block_m * block_n >= 128 * 128 else 4
    return GemmTiles(block_m, block_n, block_k, warps, 3)


@dataclass(frozen=True)
class WgradTiles:
    block_co: int
    block_k: int
    block_p: int
    split: int          # programs sharing the row range of each (co, k) tile
    num_warps: int


def wgrad_tiles(c_out_per_group: int, depth: int, rows: int, groups: int) -> WgradTiles:
    if INTERPRETING:
        return WgradTiles(_pow2(c_out_per_group), _pow2(depth), _pow2(rows), 1, 4)
    block_co, block_k, block_p = _pow2(c_out_per_group, high=64), _pow2(depth, high=64), 64
    tiles = triton.cdiv(c_out_per_group, block_co) * triton.cdiv(depth, block_k) * groups
    # enough programs to fill ~132 SMs a few times over, each still reducing >= 4 row blocks
    split = max(1, min(512 // max(tiles, 1), rows // (4 * block_p)))
    return WgradTiles(block_co, block_k, block_p, split, 4)
