"""The triton backend's launch budget per EKS layer and its host syncs, counted under the
interpreter (``tests/host_work.py``: each Triton launch and each ATen call that would launch on a
GPU). The default test run runs this file in a subprocess (``tests/test_host_work.py``).

With the batch's task plan (``task_ids_context``), a layer launches no more than the kernels the
cost model lists for its form (``lorkd_kernels/backends/triton/costs.py``): fused 1 forward and 3
backward (zeroing, input gradient, weight gradients), split 3 forward (the plain conv, shrink,
expand) and 6 backward (the plain conv's backward, shrink of dy, expand into dx, dA, shrink of
x, dB); linear layers run the fused kernels. It reads nothing on the host. A standalone call
plans its own batch: one host read per op call.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from lorkd_kernels import EKSConv2d, EKSLinear, backends, task_ids_context
from tests.backends.triton.conftest import DEVICE
from tests.host_work import count_host_work

FORMS = [("fused", "conv"), ("split", "conv"), ("fused", "linear")]


def _budget(form: str) -> tuple:
    """(forward, backward) launches the cost model counts for ``form``."""
    from lorkd_kernels.backends.triton import costs

    layer = costs.ConvLayer(6, 6, 8, 1, (5, 5), (5, 5), (3, 3), 2, 3, 4)
    cost = costs.FORMS[form](layer)
    return cost.launches_of(backward=False), cost.launches_of(backward=True)


def _layer(kind: str):
    torch.manual_seed(0)
    if kind == "conv":
        layer = EKSConv2d(6, 8, 3, padding=1, num_tasks=3, rank=2)
        x = torch.randn(6, 6, 5, 5, requires_grad=True)
    else:
        layer = EKSLinear(6, 8, num_tasks=3, rank=2)
        x = torch.randn(6, 4, 6, requires_grad=True)
    return layer.to(DEVICE), x.to(DEVICE).detach().requires_grad_()


def _counts(layer, x, task_ids):
    """Host work of one forward and of its backward (leaf gradients cleared first, so autograd
    does not add accumulation into them)."""
    y = layer(x, task_ids)
    grad = torch.randn_like(y)
    forward = count_host_work(lambda: layer(x, task_ids))
    for t in (x, *layer.parameters()):
        t.grad = None
    backward = count_host_work(lambda: y.backward(grad))
    return forward, backward


def _form(form: str, kind: str):
    """Force the conv form (linear layers always run the fused kernels)."""
    return backends.triton_strategy(form) if kind == "conv" else contextlib.nullcontext()


@pytest.mark.parametrize("form, kind", FORMS)
@pytest.mark.parametrize("ids", [[0, 0, 1, 1, 2, 2], [2, 0, 1, 0, 2, 2]], ids=["sorted", "mixed"])
def test_a_planned_layer_keeps_its_launch_budget_and_never_syncs(form, kind, ids):
    layer, x = _layer(kind)
    with backends.use("triton", DEVICE), _form(form, kind):
        with task_ids_context(torch.tensor(ids, device=DEVICE)) as planned:
            forward, backward = _counts(layer, x, planned)
    budget_forward, budget_backward = _budget(form)
    assert (budget_forward, budget_backward) == {"fused": (1, 3), "split": (3, 6)}[form]
    assert forward.launches <= budget_forward, forward
    assert backward.launches <= budget_backward, backward
    assert forward.syncs == backward.syncs == 0, (forward, backward)


@pytest.mark.parametrize("form, kind", FORMS)
def test_a_standalone_call_plans_its_batch_with_one_host_read(form, kind):
    layer, x = _layer(kind)
    with backends.use("triton", DEVICE), _form(form, kind):
        forward, backward = _counts(layer, x, torch.tensor([2, 0, 1, 0, 2, 2], device=DEVICE))
    assert forward.syncs == backward.syncs == 1, (forward, backward)


def test_a_training_step_of_a_converted_model_reads_the_ids_once():
    """Forward and backward of every layer and the task heads: the plan's one read."""
    from tests.test_host_work import check_one_read_per_step

    with backends.use("triton", DEVICE):
        check_one_read_per_step(DEVICE)


def test_fp32_dots_follow_the_plain_layers_tf32_switches():
    """A conv's fp32 dots may use TF32 as cuDNN's do (``cudnn.allow_tf32``), a linear layer's as
    cuBLAS's do (the float32 matmul precision); the tests' oracle comparisons pin both off."""
    from lorkd_kernels.backends.triton.segments import tf32_allowed

    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    try:
        for conv_switch in (True, False):
            for precision in ("highest", "high"):
                torch.backends.cudnn.allow_tf32 = conv_switch
                torch.set_float32_matmul_precision(precision)
                assert tf32_allowed("conv") is conv_switch
                assert tf32_allowed("linear") is (precision != "highest")
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.set_float32_matmul_precision(matmul)
