"""Bad input at the model level fails clearly; NaN/Inf flow through EKS layers as through
nn.Conv2d; empty batches work end to end."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSConv2d, convert
from lorkd_kernels.pipeline.models import build_model
from tests.toy_models import ToyNet


@pytest.fixture
def student():
    torch.manual_seed(0)
    return convert(ToyNet([3, 4]), num_tasks=2).eval()


@pytest.mark.parametrize(
    "task_ids, error, match",
    [
        (torch.tensor([0, 2]), (IndexError, RuntimeError, ValueError), r"\[0, 2\)|task"),
        (torch.tensor([0, -1]), (IndexError, RuntimeError, ValueError), r"\[0, 2\)|task"),
        (torch.tensor([0.0, 1.0]), TypeError, "int64"),
        (torch.tensor([0, 1, 1]), ValueError, r"shape \(2,\)"),
    ],
)
def test_bad_task_ids_through_a_converted_model(student, task_ids, error, match):
    with pytest.raises(error, match=match):
        student(torch.randn(2, 3, 8, 8), task_ids)


def test_empty_batch_through_a_converted_model(student):
    out = student(torch.randn(0, 3, 8, 8), torch.zeros(0, dtype=torch.int64))
    assert out.shape == (0, 4)


def test_wrong_image_layout_is_named():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        build_model("resnet18", [2, 3])(torch.randn(2, 1, 32, 32), torch.tensor([0, 1]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_inputs_propagate_like_a_plain_conv(bad):
    torch.manual_seed(0)
    layer = EKSConv2d(2, 3, 3, padding=1, num_tasks=2, rank=2)
    nn.init.normal_(layer.lora_B, std=0.3)
    x = torch.randn(2, 2, 5, 5)
    x[0, 1, 2, 3] = bad
    task_ids = torch.tensor([1, 0])
    y = layer(x, task_ids)
    plain = torch.cat(
        [
            nn.functional.conv2d(x[n : n + 1], layer.expert_weight(int(t)), layer.bias, padding=1)
            for n, t in enumerate(task_ids)
        ]
    )
    # Non-finite exactly where the plain conv is. An infinity may come out as NaN: the split
    # form adds the shared and the expert path, and inf + (-inf) is NaN.
    assert torch.equal(torch.isfinite(y), torch.isfinite(plain))
    if math.isnan(bad):
        assert torch.equal(torch.isnan(y), torch.isnan(plain))
    assert torch.isfinite(y[1]).all()  # the other sample is untouched
    finite = torch.isfinite(plain)
    torch.testing.assert_close(y[finite], plain[finite], rtol=1e-5, atol=1e-6)


def test_parameters_on_another_device_are_named():
    layer = EKSConv2d(2, 3, 1, num_tasks=2).to("meta")
    with pytest.raises((RuntimeError, ValueError), match="device|meta"):
        layer(torch.randn(1, 2, 4, 4), torch.tensor([0]))
