"""Both ways the triton kernels multiply by the rank-r factors (``costs.rank_arithmetic``):
``tl.dot`` with the rank padded to 16 and multiply-adds with it padded to a power of two, each
forced on the fused and the split form, every gradient against the float64 reference."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.backends import triton_strategy
from tests.backends.triton.checks import check_against_reference
from tests.eks_cases import CONV_CASES, LINEAR_CASES, conv_problem, linear_problem

# a dense 3x3 with stride 2 and padding, a depthwise conv with a multiplier, a wide output
CASES = [CONV_CASES[i] for i in (1, 4, 13)]


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


@pytest.fixture(params=["dot", "fma"])
def arithmetic(request, monkeypatch):
    from lorkd_kernels.backends.triton import _tiles, conv, costs, split

    chosen = []
    monkeypatch.setattr(costs, "rank_arithmetic", lambda rank, peak, gpu=None: request.param)

    def recorded(*args, **kwargs):
        chosen.append(_tiles._rank_flags(*args, **kwargs))
        return chosen[-1]

    for module in (conv, split):  # the launchers' own name for it
        monkeypatch.setattr(module, "_rank_flags", recorded)
    yield request.param
    assert chosen and {f["FMA_RANK"] for f in chosen} == {request.param == "fma"}


@pytest.mark.parametrize("form", ["fused", "split"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv_in_either_arithmetic(backend, arithmetic, form, case, poisoned_outputs, record_error):
    with triton_strategy(form):
        check_against_reference(
            conv_problem(case, seed=31),
            "conv",
            backend.conv2d_forward,
            backend.conv2d_backward,
            torch.float32,
            record_error,
        )


def test_linear_in_either_arithmetic(backend, arithmetic, poisoned_outputs, record_error):
    check_against_reference(
        linear_problem(LINEAR_CASES[1], seed=32),
        "linear",
        backend.linear_forward,
        backend.linear_backward,
        torch.float32,
        record_error,
    )
