"""The task-id contract of the GPU kernels (cuda, cuda_emu, triton), checked on CPU tensors.

Where the host may read the ids, an id outside ``[0, T)`` is an ``IndexError``. Where it may not
(CUDA-graph capture; ``backends.host_task_id_checks(False)`` stands in for it here), the kernels
give NaN: in the output and input-gradient rows of the bad sample, and in every weight gradient;
the other samples' rows are exactly what a batch without the bad sample gives.
"""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.backends import host_task_id_checks

NUM_TASKS = 2
BAD = 1  # position of the bad id in the batch
MASK = [True] * 5


def _conv_problem(device):
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(device)

    x, grad_out = rand(3, 2, 3, 3), rand(3, 4, 3, 3)
    params = (rand(4, 2, 3, 3), rand(4), rand(NUM_TASKS, 2, 18), rand(NUM_TASKS, 4, 2))
    config = ([1, 1], [1, 1], [1, 1], 1, 0.5)
    return x, grad_out, params, config


def _linear_problem(device):
    gen = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(device)

    x, grad_out = rand(3, 2, 5), rand(3, 2, 4)
    params = (rand(4, 5), rand(4), rand(NUM_TASKS, 2, 5), rand(NUM_TASKS, 4, 2))
    return x, grad_out, params, (0.5,)


def _run(module, kind, device, task_ids):
    x, grad_out, (weight, bias, lora_A, lora_B), config = (
        _conv_problem(device) if kind == "conv" else _linear_problem(device)
    )
    forward = module.conv2d_forward if kind == "conv" else module.linear_forward
    backward = module.conv2d_backward if kind == "conv" else module.linear_backward
    keep = [n for n in range(x.shape[0]) if n != BAD]
    ids = torch.tensor(task_ids, device=device)
    y = forward(x, weight, bias, lora_A, lora_B, ids, *config)
    grads = backward(grad_out, x, weight, lora_A, lora_B, ids, *config, MASK)
    good = torch.tensor(keep, device=device)
    y_good = forward(x[good], weight, bias, lora_A, lora_B, ids[good], *config)
    dx_good = backward(grad_out[good], x[good], weight, lora_A, lora_B, ids[good], *config, MASK)[0]
    return y, grads, y_good, dx_good, keep


def check_index_error(module, kind, device, bad_id):
    """Host checks on: the bad id is an IndexError that names it and the range."""
    x, grad_out, (weight, bias, lora_A, lora_B), config = (
        _conv_problem(device) if kind == "conv" else _linear_problem(device)
    )
    ids = torch.tensor([0, bad_id, 1], device=device)
    forward = module.conv2d_forward if kind == "conv" else module.linear_forward
    backward = module.conv2d_backward if kind == "conv" else module.linear_backward
    match = rf"task_ids contains {bad_id}\b.*outside \[0, {NUM_TASKS}\)"
    with pytest.raises(IndexError, match=match):
        forward(x, weight, bias, lora_A, lora_B, ids, *config)
    with pytest.raises(IndexError, match=match):
        backward(grad_out, x, weight, lora_A, lora_B, ids, *config, MASK)


def check_nan_contract(module, kind, device, bad_id):
    """Host checks off: NaN rows for the bad sample, NaN weight gradients, the rest exact."""
    with host_task_id_checks(False):
        y, grads, y_good, dx_good, keep = _run(module, kind, device, [1, bad_id, 0])
    assert torch.isnan(y[BAD]).all(), "the bad sample's output is not NaN"
    torch.testing.assert_close(y[keep], y_good, rtol=0, atol=0)
    dx, *weight_grads = grads
    assert torch.isnan(dx[BAD]).all(), "the bad sample's input gradient is not NaN"
    torch.testing.assert_close(dx[keep], dx_good, rtol=0, atol=0)
    for name, grad in zip(("weight", "bias", "lora_A", "lora_B"), weight_grads):
        assert torch.isnan(grad).all(), f"d{name} is not all NaN with a bad task id"
