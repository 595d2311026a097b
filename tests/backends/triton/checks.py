"""Comparison of the triton backend with the float64 reference, shared by conv and linear."""

from __future__ import annotations

import torch

from tests.backends.triton.conftest import DEVICE
from tests.eks_cases import TOLERANCE, reference_outputs, rel_error

GRAD_NAMES = ("x", "weight", "bias", "lora_A", "lora_B")


def check_against_reference(problem, kind, forward, backward, dtype, record_error,
                            mask=(True,) * 5):
    """Forward and the masked gradients within TOLERANCE[dtype]; absent tasks exactly zero."""
    y_ref, grads_ref = reference_outputs(problem, kind)
    inputs = [None if t is None else t.to(DEVICE) for t in problem.tensors(dtype)]
    task_ids = problem.task_ids.to(DEVICE)
    tol = TOLERANCE[dtype]
    y = forward(*inputs, task_ids, *problem.config)
    assert y.dtype == dtype and y.is_contiguous() and y.device.type == DEVICE
    err = rel_error(y.cpu(), y_ref)
    record_error("triton", dtype, "forward", err)
    assert err <= tol, f"forward error {err:.2e} > {tol:.0e}"

    mask = [m and (i != 2 or problem.bias is not None) for i, m in enumerate(mask)]
    x, weight, _, lora_A, lora_B = inputs
    grads = backward(problem.grad_out.to(dtype).to(DEVICE), x, weight, lora_A, lora_B, task_ids,
                     *problem.config, mask)
    assert len(grads) == 5
    for name, grad, ref, need in zip(GRAD_NAMES, grads, grads_ref, mask):
        if not need:
            assert grad.numel() == 0, f"{name} gradient was not requested but has data"
            continue
        assert grad.dtype == dtype and grad.is_contiguous(), name
        err = rel_error(grad.cpu(), ref)
        record_error("triton", dtype, "grad", err)
        assert err <= tol, f"{name} gradient error {err:.2e} > {tol:.0e}"
    for task in problem.absent_tasks():
        for name, grad in (("lora_A", grads[3]), ("lora_B", grads[4])):
            if grad.numel():
                assert torch.count_nonzero(grad[task]) == 0, f"absent task {task}: {name} != 0"
