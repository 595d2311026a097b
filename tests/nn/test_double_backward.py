"""Gradients of gradients (penalties on input gradients, MAML-style inner steps) through the EKS
layers match the float64 reference. torch warns on the way: the backward ops have no autograd
kernel of their own (docs/design.md, "Op contract")."""

from __future__ import annotations

import warnings

import pytest
import torch

from lorkd_kernels import EKSConv2d, EKSLinear, reference


def _second_order_grads(layer, x, forward):
    for t in (x, *layer.parameters()):
        t.grad = None
    y = forward()
    (grad_x,) = torch.autograd.grad((y**2).sum(), x, create_graph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no autograd kernel" (above)
        (grad_x**2).sum().backward()
    return [t.grad.clone() for t in (x, layer.weight, layer.lora_A, layer.lora_B)]


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_a_penalty_on_input_gradients_matches_the_reference(kind):
    torch.manual_seed(0)
    ids = torch.tensor([1, 0, 1])
    if kind == "conv":
        layer = EKSConv2d(3, 4, 3, padding=1, num_tasks=2, rank=2).double()
        x = torch.randn(3, 3, 5, 4, dtype=torch.float64, requires_grad=True)
        oracle = lambda: reference.eks_conv2d_per_sample(  # noqa: E731
            x,
            layer.weight,
            layer.bias,
            layer.lora_A,
            layer.lora_B,
            ids,
            padding=(1, 1),
            scaling=layer.scaling,
        )
    else:
        layer = EKSLinear(5, 4, num_tasks=2, rank=2).double()
        x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
        oracle = lambda: reference.eks_linear_per_sample(  # noqa: E731
            x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, ids, scaling=layer.scaling
        )
    torch.nn.init.normal_(layer.lora_B, std=0.5)
    ours = _second_order_grads(layer, x, lambda: layer(x, ids))
    expected = _second_order_grads(layer, x, oracle)
    for got, want in zip(ours, expected):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
        assert want.abs().max() > 0
