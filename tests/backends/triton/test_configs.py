"""configs: the GPU tiles (the interpreter's branch is patched off) are the spill-checked set,
the one ``benchmarks/triton_resources.py`` compiles, whatever the problem."""

from __future__ import annotations

import pytest

from lorkd_kernels.backends.triton import configs


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setattr(configs, "INTERPRETING", False)


@pytest.mark.parametrize("rows,cols,depth", [(4096, 512, 576), (64, 8, 16), (1, 1, 1)])
def test_a_gpu_runs_the_gemm_tile_on_every_problem(gpu, rows, cols, depth):
    tiles = configs.gemm_tiles(rows=rows, cols=cols, depth=depth)
    assert (tiles.block_n, tiles.block_k, tiles.num_warps, tiles.num_stages) == configs.GEMM_TILE
    assert tiles.block_m == configs.block_rows(rows) == 64


def test_the_interpreter_takes_one_tile_as_large_as_the_problem():
    if not configs.INTERPRETING:
        pytest.skip("the interpreter's tiles are chosen only under TRITON_INTERPRET=1")
    tiles = configs.gemm_tiles(rows=100, cols=20, depth=40)
    assert (tiles.block_m, tiles.block_n, tiles.block_k) == (128, 32, 64)
