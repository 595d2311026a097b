"""Property-based check of EKSConv2d over every padding mode, 'same'/'valid', strides, dilations
and groups, forward and all gradients, against nn.Conv2d's own padding with merged weights."""

from __future__ import annotations

import torch
from hypothesis import given, strategies as st
from torch import nn

from lorkd_kernels import EKSConv2d
from tests.backends.test_fuzz import FUZZ
from tests.eks_cases import TOLERANCE, rel_error
from tests.nn.test_conv import _per_sample_reference


@st.composite
def layers_and_inputs(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if draw(st.booleans()):
        padding, stride = draw(st.sampled_from(["same", "valid"])), (1, 1)
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    # reflect needs padding < input size; every mode needs the kernel to fit the padded input
    h, w = (draw(st.integers(max(s, 3), 8)) for s in span)
    num_tasks, rank = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    batch = draw(st.integers(1, 5))
    task_ids = torch.tensor(
        draw(st.lists(st.integers(0, num_tasks - 1), min_size=batch, max_size=batch))
    )
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    layer = EKSConv2d(
        c_in,
        c_out,
        kernel,
        stride,
        padding,
        dilation,
        groups,
        draw(st.booleans()),
        mode,
        num_tasks=num_tasks,
        rank=rank,
        alpha=2.0,
        dtype=torch.float64,
    )
    nn.init.normal_(layer.lora_B, std=0.5)
    return layer, torch.randn(batch, c_in, h, w, dtype=torch.float64), task_ids


@FUZZ
@given(layers_and_inputs())
def test_layer_fuzz_against_nn_conv2d_padding(case):
    layer, x, task_ids = case
    x.requires_grad_(True)
    params = [p for p in (x, layer.weight, layer.bias, layer.lora_A, layer.lora_B) if p is not None]
    y = layer(x, task_ids)
    y_ref = _per_sample_reference(layer, x, task_ids)
    assert rel_error(y, y_ref) <= TOLERANCE[torch.float64]
    grad_out = torch.randn_like(y_ref)
    grads = torch.autograd.grad(y, params, grad_out)
    grads_ref = torch.autograd.grad(y_ref, params, grad_out)
    for grad, ref in zip(grads, grads_ref):
        assert rel_error(grad, ref) <= TOLERANCE[torch.float64]
