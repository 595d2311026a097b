"""Triton EKS conv kernels (forward, dgrad, wgrad) against the float64 reference: the fused
form, forced here (the default strategy ``auto`` runs dense convs split unless measuring chose
fused)."""

from __future__ import annotations

import os
import zlib

import pytest
import torch

from lorkd_kernels.backends import triton_strategy
from tests.backends.triton.checks import (
    DEVICE,
    check_against_reference,
    check_channels_last_matches_contiguous,
)
from tests.eks_cases import CONV_CASES, conv_problem

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
MASKS = [
    (True, False, False, False, False),
    (False, True, True, False, False),
    (False, False, False, True, True),
    (False, False, False, False, True),
    (False, False, True, False, False),
]


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


@pytest.fixture(autouse=True)
def fused_form():
    with triton_strategy("fused"):
        yield


def _seed(case):
    return zlib.crc32(case.name.encode())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(backend, case, dtype, poisoned_outputs, record_error):
    check_against_reference(
        conv_problem(case, seed=_seed(case)),
        "conv",
        backend.conv2d_forward,
        backend.conv2d_backward,
        dtype,
        record_error,
    )


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 5, 6, 7, 9, 13)], ids=str)
def test_conv2d_small_tiles(backend, case, poisoned_outputs, small_tiles, record_error):
    """Many tiles in every dimension, partial tiles, and the wgrad's 3-way row split."""
    check_against_reference(
        conv_problem(case, seed=_seed(case) + 1),
        "conv",
        backend.conv2d_forward,
        backend.conv2d_backward,
        torch.float32,
        record_error,
    )


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 8, 13)], ids=str)
def test_conv2d_float64(backend, case, poisoned_outputs, record_error):
    check_against_reference(
        conv_problem(case, seed=11),
        "conv",
        backend.conv2d_forward,
        backend.conv2d_backward,
        torch.float64,
        record_error,
    )


@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_conv2d_output_mask(backend, mask, poisoned_outputs, record_error):
    check_against_reference(
        conv_problem(CONV_CASES[3], seed=5),
        "conv",
        backend.conv2d_forward,
        backend.conv2d_backward,
        torch.float32,
        record_error,
        mask,
    )


def test_conv2d_without_bias(backend, poisoned_outputs, record_error):
    check_against_reference(
        conv_problem(CONV_CASES[6], seed=6, bias=False),
        "conv",
        backend.conv2d_forward,
        backend.conv2d_backward,
        torch.float32,
        record_error,
    )


def test_conv2d_noncontiguous_input(backend):
    check_channels_last_matches_contiguous(
        backend, conv_problem(CONV_CASES[1], seed=8), backward=False
    )


@pytest.mark.skipif(
    os.environ.get("LORKD_BACKEND") != "triton",
    reason="the public ops use the triton kernels only with LORKD_BACKEND=triton",
)
def test_public_op_runs_triton_kernels(backend, monkeypatch):
    from lorkd_kernels import active_backend, eks_conv2d
    from lorkd_kernels.backends.triton import conv

    launched = []
    for name in ("fused_forward", "fused_input_grad", "fused_weight_grads"):
        real = getattr(conv, name)
        monkeypatch.setattr(
            conv,
            name,
            lambda *a, _real=real, _name=name, **k: launched.append(_name) or _real(*a, **k),
        )
    assert active_backend(DEVICE) == "triton"
    problem = conv_problem(CONV_CASES[8], seed=4)
    inputs = [t.to(DEVICE) for t in problem.tensors(torch.float32, requires_grad=True)]
    y = eks_conv2d(*inputs, problem.task_ids.to(DEVICE), *problem.config)
    y.backward(problem.grad_out.float().to(DEVICE))
    assert launched == ["fused_forward", "fused_input_grad", "fused_weight_grads"]
    assert all(t.grad is not None for t in inputs)
