"""Limits a GPU enforces that the emulator does not, checked on the host before any launch of
the CUDA C++ kernels (``csrc/kernels/eks_ops.h``), so they hold for the emulated kernels too."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels import backends

pytestmark = pytest.mark.skipif(
    not backends.compiled_loaded(), reason="the CUDA C++ host code is in the compiled library"
)


def test_a_rank_past_the_shared_memory_a_block_gets_is_refused_in_one_line():
    """The linear kernel keeps a (rows x rank) tile in shared memory: above 48 KiB the CUDA
    launcher opts in, above what a GPU gives a block (227 KiB) the call is refused."""
    x = torch.randn(2, 4, dtype=torch.float64)
    weight = torch.randn(3, 4, dtype=torch.float64)
    ids = torch.zeros(2, dtype=torch.int64)
    small = torch.ops.lorkd._cuda_emu_eks_linear(
        x,
        weight,
        None,
        torch.randn(1, 300, 4, dtype=torch.float64),
        torch.zeros(1, 3, 300, dtype=torch.float64),
        ids,
        1.0,
    )  # 82 KiB: opts in, runs
    torch.testing.assert_close(small, x @ weight.T)
    with pytest.raises(
        ValueError,
        match=r"eks_linear: needs \d+ bytes of shared memory per "
        r"block, more than a GPU gives one \(232448\); use a "
        r"smaller rank",
    ):
        torch.ops.lorkd._cuda_emu_eks_linear(
            x,
            weight,
            None,
            torch.randn(1, 900, 4, dtype=torch.float64),
            torch.randn(1, 3, 900, dtype=torch.float64),
            ids,
            1.0,
        )
