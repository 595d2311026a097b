"""EKSLinear: nn.Linear compatibility, token inputs, wrapping and merging."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSLinear, reference
from tests.eks_cases import TOLERANCE, rel_error


def _layer(bias=True, dtype=torch.float64):
    torch.manual_seed(0)
    layer = EKSLinear(10, 6, bias, num_tasks=3, rank=2, alpha=4, dtype=dtype)
    nn.init.normal_(layer.lora_B, std=0.5)
    return layer


def test_parameters_follow_the_contract():
    layer = EKSLinear(10, 6, num_tasks=3, rank=2)
    shapes = {k: tuple(v.shape) for k, v in layer.named_parameters()}
    assert shapes == {"weight": (6, 10), "bias": (6,), "lora_A": (3, 2, 10), "lora_B": (3, 6, 2)}
    assert layer.scaling == 1.0 and isinstance(layer, nn.Linear)


@pytest.mark.parametrize("shape", [(5, 10), (5, 4, 10), (5, 2, 3, 10)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_layer_matches_reference_forward_and_grads(shape, bias):
    layer = _layer(bias)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    task_ids = torch.tensor([2, 0, 2, 2, 0])
    results = []
    for fn in (
        layer,
        lambda x_, t_: reference.eks_linear_per_sample(
            x_, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t_, layer.scaling
        ),
    ):
        layer.zero_grad()
        x.grad = None
        y = fn(x, task_ids)
        y.backward(torch.ones_like(y) + torch.arange(y.numel(), dtype=y.dtype).view(y.shape) / 7)
        results.append([y.detach(), x.grad.clone()] + [p.grad.clone() for p in layer.parameters()])
    for got, want in zip(*results):
        assert rel_error(got, want) <= TOLERANCE[torch.float64]
    assert torch.count_nonzero(layer.lora_A.grad[1]) == 0


def test_from_linear_and_to_linear():
    linear = nn.Linear(10, 6)
    layer = EKSLinear.from_linear(linear, num_tasks=3, rank=2)
    x = torch.randn(4, 10)
    torch.testing.assert_close(layer(x, torch.tensor([0, 1, 2, 0])), linear(x))
    nn.init.normal_(layer.lora_B)
    for task in range(3):
        merged = layer.to_linear(task)
        assert type(merged) is nn.Linear
        want = layer(x, task)
        assert rel_error(merged(x), want) <= 1e-5
    with pytest.raises(TypeError, match="from_linear expects an nn.Linear"):
        EKSLinear.from_linear(nn.Conv2d(1, 1, 1), num_tasks=2)


def test_invalid_construction():
    with pytest.raises(ValueError, match="num_tasks must be a positive integer"):
        EKSLinear(4, 4, num_tasks=0)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        EKSLinear(4, 4, num_tasks=2, rank=0)
