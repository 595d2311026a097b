"""The two reference formulations agree with each other and with plain convolutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lorkd_kernels import reference
from tests.eks_cases import CONV_CASES, LINEAR_CASES, conv_problem, linear_problem, rel_error


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_paper_formulation_equals_per_sample_conv(case):
    problem = conv_problem(case, seed=7)
    args = (problem.task_ids, *problem.config)
    results = []
    for fn in (reference.eks_conv2d_per_sample, reference.eks_conv2d_paper):
        inputs = problem.tensors(torch.float64, requires_grad=True)
        y = fn(*inputs, *args)
        grads = torch.autograd.grad(y, inputs, problem.grad_out)
        results.append((y, *grads))
    for a, b in zip(*results):
        assert rel_error(b, a) <= 1e-12


@pytest.mark.parametrize("case", LINEAR_CASES, ids=str)
def test_paper_formulation_equals_per_sample_linear(case):
    problem = linear_problem(case, seed=7)
    inputs = problem.tensors(torch.float64)
    a = reference.eks_linear_per_sample(*inputs, problem.task_ids, *problem.config)
    b = reference.eks_linear_paper(*inputs, problem.task_ids, *problem.config)
    assert rel_error(b, a) <= 1e-12


def test_zero_experts_reduce_to_plain_conv():
    problem = conv_problem(CONV_CASES[7], seed=1)
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float64)
    stride, padding, dilation, groups, scaling = problem.config
    y = reference.eks_conv2d_per_sample(
        x, weight, bias, lora_A, torch.zeros_like(lora_B), problem.task_ids, *problem.config
    )
    assert rel_error(y, F.conv2d(x, weight, bias, stride, padding, dilation, groups)) <= 1e-14


def test_one_task_equals_conv_with_merged_weight():
    problem = conv_problem(CONV_CASES[1], seed=1)
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float64)
    stride, padding, dilation, groups, scaling = problem.config
    task_ids = torch.full((x.shape[0],), 2, dtype=torch.int64)
    merged = weight + scaling * (lora_B[2] @ lora_A[2]).reshape(weight.shape)
    y = reference.eks_conv2d_paper(x, weight, bias, lora_A, lora_B, task_ids, *problem.config)
    assert rel_error(y, F.conv2d(x, merged, bias, stride, padding, dilation, groups)) <= 1e-14
