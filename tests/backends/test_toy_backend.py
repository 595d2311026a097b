"""A backend is one module plus one registry entry: the test-only ``toy`` backend
(``tests/backends/toy``) joins the ops through ``registry.add`` and its module's one declaring
call, with no other edit, and behaves like every built-in backend."""

from __future__ import annotations

import importlib

import pytest
import torch

from lorkd_kernels import EKSConv2d, backends
from lorkd_kernels.backends import registry
from tests.eks_cases import (
    CONV_CASES,
    LINEAR_CASES,
    TOLERANCE,
    conv_problem,
    linear_problem,
    reference_outputs,
    rel_error,
)

MODULE = "tests.backends.toy.float64_torch"
ENTRY = registry.Backend(
    "toy",
    MODULE,
    (registry.ANY_DEVICE,),
    package=None,
    needs="nothing beyond torch",
    summary="the torch backend in float64 (a test of the backend interface)",
)
FOUR = ("conv2d_forward", "conv2d_backward", "linear_forward", "linear_backward")


@pytest.fixture
def toy():
    """The toy backend in the table for one test; its module, imported on first use, declares
    its private ops once per process."""
    registry.add(ENTRY)
    try:
        yield importlib.import_module(MODULE)
    finally:
        registry.remove("toy")


def _grads_match(problem, kind, run):
    y_ref, grads_ref = reference_outputs(problem, kind)
    inputs = problem.tensors(torch.float32, requires_grad=True)
    y = run(*inputs, problem.task_ids, *problem.config)
    assert rel_error(y, y_ref) <= TOLERANCE[torch.float32]
    y.backward(problem.grad_out.float())
    for name, t, ref in zip(("x", "weight", "bias", "lora_A", "lora_B"), inputs, grads_ref):
        if t is None:
            continue
        assert rel_error(t.grad, ref) <= TOLERANCE[torch.float32], name


@pytest.mark.parametrize(
    "case", [c for c in CONV_CASES if c.groups > 1 or c.mix == "absent"][:3], ids=str
)
def test_the_toy_convs_through_explicit_match_the_float64_reference(toy, case):
    toy.CALLS.clear()
    _grads_match(conv_problem(case, seed=11), "conv", backends.explicit("toy").eks_conv2d)
    assert toy.CALLS["conv2d_forward"] == 1 and toy.CALLS["conv2d_backward"] == 1


@pytest.mark.parametrize("case", LINEAR_CASES[:2], ids=str)
def test_the_toy_linears_through_explicit_match_the_float64_reference(toy, case):
    toy.CALLS.clear()
    _grads_match(linear_problem(case, seed=12), "linear", backends.explicit("toy").eks_linear)
    assert toy.CALLS["linear_forward"] == 1 and toy.CALLS["linear_backward"] == 1


def test_the_public_ops_and_layers_route_to_the_toy_backend(toy):
    assert "toy" in backends.available_backends("cpu")
    assert backends.availability("toy", "meta") is None
    layer = EKSConv2d(5, 6, 3, num_tasks=3, rank=2, padding=1)
    x = torch.randn(4, 5, 7, 7, requires_grad=True)
    task_ids = torch.tensor([2, 0, 2, 1])
    expected = layer(x, task_ids)
    expected.sum().backward()
    expected_grad = x.grad
    x.grad = None
    toy.CALLS.clear()
    with backends.use("toy"):
        assert backends.active_backend("cpu") == "toy"
        y = layer(x, task_ids)
        y.sum().backward()
    assert backends.active_backend("cpu") != "toy"
    assert toy.CALLS["conv2d_forward"] == 1 and toy.CALLS["conv2d_backward"] == 1
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(x.grad, expected_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["eks_conv2d", "eks_linear"])
def test_the_toy_private_ops_pass_torch_opcheck(toy, op):
    """Schema, fake kernel and autograd registration, as torch checks a custom op."""
    problem = (
        conv_problem(CONV_CASES[0], seed=13)
        if op == "eks_conv2d"
        else linear_problem(LINEAR_CASES[0], seed=13)
    )
    registry.module("toy")
    private = getattr(torch.ops.lorkd, registry.get("toy").op_name(op))
    inputs = problem.tensors(torch.float32, requires_grad=True)
    torch.library.opcheck(private, (*inputs, problem.task_ids, *problem.config))


def test_the_toy_ops_validate_their_arguments_like_every_backend(toy):
    problem = conv_problem(CONV_CASES[0], seed=14)
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    with pytest.raises(ValueError, match="task_ids has"):
        backends.explicit("toy").eks_conv2d(
            x, weight, bias, lora_A, lora_B, problem.task_ids[:-1], *problem.config
        )


def test_the_table_refuses_a_name_twice_and_removes_only_what_was_added(toy):
    with pytest.raises(ValueError, match="already exists"):
        registry.add(ENTRY)
    with pytest.raises(ValueError, match="already exists"):
        registry.add(registry.Backend("cuda_emu", MODULE, ("cpu",), None, "", ""))
    with pytest.raises(ValueError, match="was not added"):
        registry.remove("torch")
