"""The split form of the triton conv (base conv through F.conv2d, Triton kernels for the expert
branch only) against the float64 reference, and its task-id contract."""

from __future__ import annotations

import os
import zlib

import pytest
import torch

from lorkd_kernels.backends import triton_strategy
from tests.backends.task_id_contract import check_index_error, check_nan_contract
from tests.backends.triton.checks import (
    DEVICE,
    check_against_reference,
    check_channels_last_matches_contiguous,
    record_launches,
)
from tests.backends.triton.test_conv import DTYPES, MASKS
from tests.eks_cases import CONV_CASES, conv_problem


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


@pytest.fixture(autouse=True)
def split_form():
    with triton_strategy("split"):
        yield


@pytest.fixture
def small_branch_tiles(monkeypatch):
    """The smallest tiles tl.dot allows (the segment reductions' output tiles: the smallest the
    launch allows, the rank's block where it multiplies and adds) and a 3-way row split in the
    segment reductions, so every mask and every cross-program sum of the branch kernels runs on
    small problems."""
    from lorkd_kernels.backends.triton import configs

    monkeypatch.setattr(
        configs, "branch_tiles", lambda rows, cols: configs.BranchTiles(16, 16, 4, 1)
    )
    monkeypatch.setattr(
        configs,
        "segment_tiles",
        lambda a, depth, rows, segs, low=configs.MIN_DOT: configs.WgradTiles(low, low, 16, 3, 4),
    )


def _seed(case):
    return zlib.crc32(case.name.encode()) + 2


def _check(backend, problem, dtype, record_error, mask=(True,) * 5):
    check_against_reference(
        problem, "conv", backend.conv2d_forward, backend.conv2d_backward, dtype, record_error, mask
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_split_conv2d(backend, case, dtype, poisoned_outputs, record_error):
    _check(backend, conv_problem(case, seed=_seed(case)), dtype, record_error)


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 4, 5, 7, 9, 13)], ids=str)
def test_split_conv2d_small_tiles(
    backend, case, poisoned_outputs, small_branch_tiles, record_error
):
    """Many tiles in every dimension, partial tiles, and the 3-way row split."""
    _check(backend, conv_problem(case, seed=_seed(case) + 1), torch.float32, record_error)


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 8, 13)], ids=str)
def test_split_conv2d_float64(backend, case, poisoned_outputs, record_error):
    _check(backend, conv_problem(case, seed=12), torch.float64, record_error)


@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_split_conv2d_output_mask(backend, mask, poisoned_outputs, record_error):
    _check(backend, conv_problem(CONV_CASES[3], seed=5), torch.float32, record_error, mask)


def test_split_conv2d_without_bias(backend, poisoned_outputs, record_error):
    _check(backend, conv_problem(CONV_CASES[6], seed=6, bias=False), torch.float32, record_error)


def test_split_conv2d_channels_last_input(backend):
    """cuDNN's outputs follow the input's memory format; the branch kernels address them
    through their strides."""
    check_channels_last_matches_contiguous(
        backend, conv_problem(CONV_CASES[1], seed=8), backward=True
    )


@pytest.mark.parametrize("bad_id", [2, -1])
def test_split_bad_task_id_is_an_index_error(backend, bad_id):
    check_index_error(backend, "conv", DEVICE, bad_id)


@pytest.mark.parametrize("bad_id", [2, -1])
def test_split_unchecked_bad_task_id_gives_nan(
    backend, bad_id, poisoned_outputs, small_branch_tiles
):
    check_nan_contract(backend, "conv", DEVICE, bad_id)


SPLIT_LAUNCHERS = ("shrink", "expand_into", "segment_outer")
FUSED_LAUNCHERS = ("fused_forward", "fused_input_grad", "fused_weight_grads")


@pytest.mark.skipif(
    os.environ.get("LORKD_BACKEND") != "triton",
    reason="the public ops use the triton kernels only with LORKD_BACKEND=triton",
)
def test_public_op_runs_the_split_kernels(backend, monkeypatch):
    from lorkd_kernels import eks_conv2d
    from lorkd_kernels.backends.triton import conv, split

    launched = []
    for module, names in ((split, SPLIT_LAUNCHERS), (conv, FUSED_LAUNCHERS)):
        record_launches(monkeypatch, module, names, launched)
    problem = conv_problem(CONV_CASES[8], seed=4)
    inputs = [t.to(DEVICE) for t in problem.tensors(torch.float32, requires_grad=True)]
    y = eks_conv2d(*inputs, problem.task_ids.to(DEVICE), *problem.config)
    y.backward(problem.grad_out.float().to(DEVICE))
    # forward: shrink x, expand into y; backward: shrink dy (v), expand into dx, dA, shrink x
    # again (u), dB
    assert launched == [
        "shrink",
        "expand_into",
        "shrink",
        "expand_into",
        "segment_outer",
        "shrink",
        "segment_outer",
    ]
    assert all(t.grad is not None for t in inputs)
