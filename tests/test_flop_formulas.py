"""The FLOP formulas against hand counts: one EKSConv2d (dense and grouped), one EKSLinear, one
nn.Conv2d, forward and backward (FLOPs = 2 × multiply-adds)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear
from lorkd_kernels.flop_formulas import counted_flops

N, C_IN, C_OUT, SIDE, RANK, TASKS = 3, 4, 6, 5, 2, 2
TASK_IDS = torch.tensor([0, 1, 1])


def _forward(layer: nn.Module, x: torch.Tensor, *task_ids) -> int:
    with torch.no_grad():
        return counted_flops(lambda: layer(x, *task_ids))


def _forward_and_backward(layer: nn.Module, x: torch.Tensor, *task_ids) -> int:
    return counted_flops(lambda: layer(x, *task_ids).sum().backward())


@pytest.mark.parametrize("groups", [1, 2])
def test_eks_conv2d_forward_is_the_split_forms_three_products(groups):
    layer = EKSConv2d(C_IN, C_OUT, 3, padding=1, groups=groups, num_tasks=TASKS, rank=RANK)
    k = (C_IN // groups) * 3 * 3  # one output value's inputs
    pixels = N * SIDE * SIDE  # 3x3, padding 1: same size out
    shared = C_OUT * k  # W0
    shrink = groups * RANK * k  # A: rank channels per group
    expand = C_OUT * RANK  # B
    x = torch.randn(N, C_IN, SIDE, SIDE)
    assert _forward(layer, x, TASK_IDS) == 2 * pixels * (shared + shrink + expand)


def test_eks_conv2d_backward_costs_twice_the_forward_with_every_gradient():
    layer = EKSConv2d(C_IN, C_OUT, 3, padding=1, num_tasks=TASKS, rank=RANK)
    x = torch.randn(N, C_IN, SIDE, SIDE, requires_grad=True)
    forward = _forward(layer, x, TASK_IDS)
    assert _forward_and_backward(layer, x, TASK_IDS) == 3 * forward


def test_eks_conv2d_backward_without_the_input_gradient():
    """A first layer: no dx, so neither the shared weight's nor the shrink's input gradient."""
    layer = EKSConv2d(C_IN, C_OUT, 1, num_tasks=TASKS, rank=RANK)
    pixels = N * SIDE * SIDE
    shared, shrink, expand = (
        2 * pixels * C_OUT * C_IN,
        2 * pixels * RANK * C_IN,
        2 * pixels * C_OUT * RANK,
    )
    x = torch.randn(N, C_IN, SIDE, SIDE)
    forward = shared + shrink + expand
    # dW0: shared; dA: the expand's gradient, then the shrink's; dB: expand
    backward = shared + expand + shrink + expand
    assert _forward_and_backward(layer, x, TASK_IDS) == forward + backward


def test_eks_linear_forward_and_backward():
    layer = EKSLinear(C_IN, C_OUT, num_tasks=TASKS, rank=RANK)
    x = torch.randn(N, C_IN, requires_grad=True)
    forward = 2 * N * (C_OUT * C_IN + RANK * C_IN + C_OUT * RANK)
    assert _forward(layer, x, TASK_IDS) == forward
    assert _forward_and_backward(layer, x, TASK_IDS) == 3 * forward


def test_conv2d_forward_hand_count():
    conv = nn.Conv2d(C_IN, C_OUT, 3, stride=2, padding=1)
    out = (SIDE + 2 - 3) // 2 + 1
    assert _forward(conv, torch.randn(N, C_IN, SIDE, SIDE)) == 2 * N * out * out * C_OUT * C_IN * 9


def test_depthwise_conv2d_weight_gradient_costs_what_its_forward_costs():
    """torch's own formula counts a grouped convolution's weight gradient ``groups`` times."""
    conv = nn.Conv2d(C_IN, C_IN, 3, padding=1, groups=C_IN)
    forward = 2 * N * SIDE * SIDE * C_IN * 9
    x = torch.randn(N, C_IN, SIDE, SIDE, requires_grad=True)
    assert _forward(conv, x) == forward
    assert _forward_and_backward(conv, x) == 3 * forward
