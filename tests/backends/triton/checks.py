"""Comparison of the triton backend with the float64 reference, shared by conv and linear."""

from __future__ import annotations

import torch

from tests.backends.triton.conftest import DEVICE
from tests.eks_cases import TOLERANCE, reference_outputs, rel_error

GRAD_NAMES = ("x", "weight", "bias", "lora_A", "lora_B")


def check_against_reference(
    problem, kind, forward, backward, dtype, record_error, mask=(True,) * 5
):
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
    grads = backward(
        problem.grad_out.to(dtype).to(DEVICE),
        x,
        weight,
        lora_A,
        lora_B,
        task_ids,
        *problem.config,
        mask,
    )
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


def record_launches(monkeypatch, module, names, launched: list) -> None:
    """Wrap ``module``'s launchers ``names`` so that each call appends its name to ``launched``
    (the order the public ops run the kernels in)."""
    for name in names:
        real = getattr(module, name)
        monkeypatch.setattr(
            module,
            name,
            lambda *a, _real=real, _name=name, **k: launched.append(_name) or _real(*a, **k),
        )


def check_channels_last_matches_contiguous(backend, problem, backward: bool) -> None:
    """A channels-last input gives the contiguous input's output (and, with ``backward``, its
    gradients from a channels-last output gradient)."""
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    x_cl = x.to(device=DEVICE, memory_format=torch.channels_last)
    args = [t.to(DEVICE) for t in (weight, bias, lora_A, lora_B, problem.task_ids)]
    y_cl = backend.conv2d_forward(x_cl, *args, *problem.config)
    y = backend.conv2d_forward(x.to(DEVICE), *args, *problem.config)
    torch.testing.assert_close(y_cl, y, rtol=1e-5, atol=1e-5)
    if not backward:
        return
    grad_out = problem.grad_out.float().to(DEVICE)
    no_bias = [args[0], *args[2:]]
    grads_cl = backend.conv2d_backward(
        grad_out.to(memory_format=torch.channels_last), x_cl, *no_bias, *problem.config, [True] * 5
    )
    grads = backend.conv2d_backward(grad_out, x.to(DEVICE), *no_bias, *problem.config, [True] * 5)
    for got, want in zip(grads_cl, grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
