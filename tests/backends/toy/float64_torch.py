"""A test-only backend, ``toy``: the ``torch`` backend's functions run in float64 (inputs cast
up, outputs cast back). Its kernels are deliberately trivial; what it proves is the backend
interface: this module (its four functions and the one declaring call at the end) plus one
registry entry (``tests/backends/test_toy_backend.py`` adds it before the module is imported)
make a backend that the public ops route to, that ``backends.explicit`` calls with autograd,
and that fake tensors trace. ``CALLS`` counts its kernels' calls, so a test sees they ran.
"""

from __future__ import annotations

import sys
from collections import Counter

import torch

from lorkd_kernels.backends import define, torch_ops

CALLS: Counter = Counter()


def _up(*tensors):
    return [
        t.double() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in tensors
    ]


def conv2d_forward(
    x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
):
    CALLS["conv2d_forward"] += 1
    y = torch_ops.conv2d_forward(
        *_up(x, weight, bias, lora_A, lora_B), task_ids, stride, padding, dilation, groups, scaling
    )
    return y.to(x.dtype)


def conv2d_backward(
    grad_out,
    x,
    weight,
    lora_A,
    lora_B,
    task_ids,
    stride,
    padding,
    dilation,
    groups,
    scaling,
    output_mask,
):
    CALLS["conv2d_backward"] += 1
    grads = torch_ops.conv2d_backward(
        *_up(grad_out, x, weight, lora_A, lora_B),
        task_ids,
        stride,
        padding,
        dilation,
        groups,
        scaling,
        output_mask,
    )
    return [g.to(x.dtype) for g in grads]


def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    CALLS["linear_forward"] += 1
    return torch_ops.linear_forward(*_up(x, weight, bias, lora_A, lora_B), task_ids, scaling).to(
        x.dtype
    )


def linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
    CALLS["linear_backward"] += 1
    grads = torch_ops.linear_backward(
        *_up(grad_out, x, weight, lora_A, lora_B), task_ids, scaling, output_mask
    )
    return [g.to(x.dtype) for g in grads]


define.python_backend("toy", sys.modules[__name__])
