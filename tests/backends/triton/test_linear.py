"""Triton EKS linear (segmented GEMM on the conv kernels) against the float64 reference."""

from __future__ import annotations

import os
import zlib

import pytest
import torch

from tests.backends.triton.checks import DEVICE, check_against_reference, record_launches
from tests.backends.triton.test_conv import DTYPES, MASKS
from tests.eks_cases import LINEAR_CASES, LinearCase, linear_problem

BIG = LinearCase(
    "tokens_many_tiles", in_features=37, out_features=21, batch=9, inner=(11,), num_tasks=5, rank=5
)


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


def _seed(case):
    return zlib.crc32(case.name.encode())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", LINEAR_CASES + [BIG], ids=str)
def test_linear(backend, case, dtype, poisoned_outputs, record_error):
    check_against_reference(
        linear_problem(case, seed=_seed(case)),
        "linear",
        backend.linear_forward,
        backend.linear_backward,
        dtype,
        record_error,
    )


@pytest.mark.parametrize("case", [LINEAR_CASES[2], LINEAR_CASES[5], BIG], ids=str)
def test_linear_small_tiles(backend, case, poisoned_outputs, small_tiles, record_error):
    check_against_reference(
        linear_problem(case, seed=_seed(case) + 1),
        "linear",
        backend.linear_forward,
        backend.linear_backward,
        torch.float32,
        record_error,
    )


def test_linear_float64(backend, poisoned_outputs, record_error):
    check_against_reference(
        linear_problem(LINEAR_CASES[2], seed=11),
        "linear",
        backend.linear_forward,
        backend.linear_backward,
        torch.float64,
        record_error,
    )


@pytest.mark.parametrize("mask", MASKS, ids=str)
def test_linear_output_mask(backend, mask, poisoned_outputs, record_error):
    check_against_reference(
        linear_problem(LINEAR_CASES[2], seed=5),
        "linear",
        backend.linear_forward,
        backend.linear_backward,
        torch.float32,
        record_error,
        mask,
    )


def test_linear_empty_batch_and_tokens(backend):
    problem = linear_problem(LINEAR_CASES[2], seed=3)
    x, weight, bias, lora_A, lora_B = [t.to(DEVICE) for t in problem.tensors(torch.float32)]
    for xs, ids in ((x[:0], problem.task_ids[:0]), (x[:, :0], problem.task_ids)):
        ids = ids.to(DEVICE)
        y = backend.linear_forward(xs, weight, bias, lora_A, lora_B, ids, 1.0)
        assert y.shape == (*xs.shape[:-1], weight.shape[0])
        grads = backend.linear_backward(y, xs, weight, lora_A, lora_B, ids, 1.0, [True] * 5)
        assert grads[0].shape == xs.shape
        for grad, param in zip(grads[1:], (weight, bias, lora_A, lora_B)):
            assert grad.shape == param.shape and torch.count_nonzero(grad) == 0


@pytest.mark.skipif(
    os.environ.get("LORKD_BACKEND") != "triton",
    reason="the public ops use the triton kernels only with LORKD_BACKEND=triton",
)
def test_public_op_runs_triton_kernels(backend, monkeypatch):
    from lorkd_kernels import eks_linear
    from lorkd_kernels.backends.triton import linear

    launched = []
    record_launches(
        monkeypatch, linear, ("fused_forward", "fused_input_grad", "fused_weight_grads"), launched
    )
    problem = linear_problem(LINEAR_CASES[2], seed=4)
    inputs = [t.to(DEVICE) for t in problem.tensors(torch.float32, requires_grad=True)]
    y = eks_linear(*inputs, problem.task_ids.to(DEVICE), *problem.config)
    y.backward(problem.grad_out.float().to(DEVICE))
    assert launched == ["fused_forward", "fused_input_grad", "fused_weight_grads"]


def test_poisoned_outputs_reach_the_linear_kernels(backend, poisoned_outputs, monkeypatch):
    """The NaN-filled allocation must reach linear's outputs too, or an element the kernels
    never write would pass unseen: with the kernels skipped, y and dx stay NaN."""
    from lorkd_kernels.backends.triton import linear

    for name in ("fused_forward", "fused_input_grad"):
        monkeypatch.setattr(linear, name, lambda *args, **kwargs: None)
    problem = linear_problem(LINEAR_CASES[2], seed=6)
    x, weight, bias, lora_A, lora_B = [t.to(DEVICE) for t in problem.tensors(torch.float32)]
    ids = problem.task_ids.to(DEVICE)
    y = backend.linear_forward(x, weight, bias, lora_A, lora_B, ids, 1.0)
    dx = backend.linear_backward(y, x, weight, lora_A, lora_B, ids, 1.0, [True] + [False] * 4)[0]
    assert torch.isnan(y).all() and torch.isnan(dx).all()
