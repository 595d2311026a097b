"""configs: the GPU tiles (the interpreter's branch is patched off) come from the spill-checked
set, the one ``benchmarks/triton_resources.py`` compiles."""

from __future__ import annotations

import pytest

from lorkd_kernels.backends.triton import configs

TWO_TILES = ((32, 16, 8, 2), (64, 16, 8, 2))


@pytest.fixture
def gpu_tiles(monkeypatch):
    monkeypatch.setattr(configs, "INTERPRETING", False)
    monkeypatch.setattr(configs, "GEMM_TILES", TWO_TILES)


@pytest.mark.parametrize("cols,block_n", [(512, 64), (64, 64), (48, 64), (32, 32), (8, 32)])
def test_heuristic_takes_the_widest_tile_the_columns_fill(gpu_tiles, cols, block_n):
    tiles = configs.gemm_tiles(rows=4096, cols=cols, depth=576, half=True)
    assert tiles.block_n == block_n        # 8 columns: the narrowest tile, not the last
    assert (tiles.block_n, tiles.block_k, tiles.num_warps, tiles.num_stages) in TWO_TILES
    assert tiles.block_m == configs.block_rows(4096)


def test_autotune_candidates_are_the_tile_set(gpu_tiles):
    assert [(c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_warps, c.num_stages)
            for c in configs.gemm_configs()] == list(TWO_TILES)
