"""EKS layers under torch.autocast behave like nn.Conv2d / nn.Linear: they run in the autocast
dtype, return it, and give fp32 parameters fp32 gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear, reference
from tests.eks_cases import TOLERANCE, rel_error


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_conv_and_linear_follow_the_autocast_dtype(dtype):
    torch.manual_seed(0)
    conv = EKSConv2d(4, 6, 3, padding=1, num_tasks=3, rank=2)
    linear = EKSLinear(6, 5, num_tasks=3, rank=2)
    for layer in (conv, linear):
        nn.init.normal_(layer.lora_B, std=0.2)
    x, task_ids = torch.randn(5, 4, 7, 6), torch.tensor([2, 0, 2, 1, 0])
    with torch.autocast("cpu", dtype=dtype):
        hidden = conv(x, task_ids)
        out = linear(hidden.mean(dim=(2, 3)), task_ids)
    assert hidden.dtype == dtype and out.dtype == dtype
    out.float().sum().backward()
    assert conv.lora_A.grad.dtype == torch.float32 and linear.weight.grad.dtype == torch.float32

    expected = reference.eks_conv2d_per_sample(
        x.double(),
        conv.weight.double(),
        conv.bias.double(),
        conv.lora_A.double(),
        conv.lora_B.double(),
        task_ids,
        padding=(1, 1),
        scaling=conv.scaling,
    )
    assert rel_error(hidden.double(), expected) <= TOLERANCE[dtype]


def test_layers_run_on_the_meta_device_which_has_no_autocast():
    """Shapes only, no arithmetic (how model costs are counted): the autocast check must not
    ask torch about a device that has no autocast."""
    with torch.device("meta"):
        conv = EKSConv2d(4, 6, 3, padding=1, num_tasks=3, rank=2)
        linear = EKSLinear(6, 5, num_tasks=3, rank=2)
    x, task_ids = (
        torch.empty(5, 4, 7, 6, device="meta"),
        torch.zeros(5, dtype=torch.long, device="meta"),
    )
    hidden = conv(x, task_ids)
    out = linear(hidden.mean(dim=(2, 3)), task_ids)
    assert hidden.device.type == "meta" and hidden.shape == (5, 6, 7, 6)
    assert out.shape == (5, 5)
    out.sum().backward()
    assert conv.lora_A.grad.shape == conv.lora_A.shape
