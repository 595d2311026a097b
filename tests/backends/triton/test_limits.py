"""Limits a GPU enforces that the interpreter does not, as host checks (``limits.py``)."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels import EKSConv2d, EKSLinear, backends
from tests.backends.triton.conftest import DEVICE


def test_a_grid_past_the_cuda_limits_is_refused_naming_the_kernel():
    from lorkd_kernels.backends.triton import limits

    assert limits.checked_grid((2**31 - 1, 65535, 65535), "k") == (2**31 - 1, 65535, 65535)
    with pytest.raises(
        ValueError, match="the split form's dA/dB needs 65536 programs along grid axis 2"
    ):
        limits.checked_grid((1, 1, 65536), "the split form's dA/dB")


def test_many_tasks_times_groups_fit_the_grid():
    """T x groups x row splits of the split form's dA/dB run on the grid's unbounded axis:
    T = 64 tasks on a depthwise conv of 1152 channels would pass 65535 on another axis."""
    from lorkd_kernels.backends.triton import configs, split

    tiles = configs.WgradTiles(16, 16, 16, 4, 4)
    grid = split.segment_grid(64, 1152, 2, 9, tiles)
    assert grid[0] == 64 * 1152 * 4 and max(grid[1:]) <= 65535


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_deterministic_mode_refuses_the_atomic_weight_gradients(kind):
    torch.manual_seed(0)
    layer = (
        EKSConv2d(4, 4, 3, padding=1, num_tasks=2, rank=2)
        if kind == "conv"
        else EKSLinear(4, 4, num_tasks=2, rank=2)
    ).to(DEVICE)
    x = (
        torch.randn(3, 4, 5, 5, device=DEVICE)
        if kind == "conv"
        else torch.randn(3, 4, device=DEVICE)
    )
    ids = torch.tensor([0, 1, 1], device=DEVICE)
    previous = torch.are_deterministic_algorithms_enabled()
    with backends.use("triton", DEVICE):
        try:
            torch.use_deterministic_algorithms(True)
            y = layer(x, ids)  # the forward has no atomics
            with pytest.raises(RuntimeError, match="no deterministic implementation"):
                y.sum().backward()
            torch.use_deterministic_algorithms(True, warn_only=True)
            with pytest.warns(UserWarning, match="no deterministic implementation"):
                layer(x, ids).sum().backward()
        finally:
            torch.use_deterministic_algorithms(previous)


def test_deterministic_mode_lets_the_split_form_give_cudnns_gradients():
    """With the experts frozen, the split form's dx, dW0 and dbias come from cuDNN (and the
    branch's input gradient), none through atomics: deterministic mode lets them run."""
    torch.manual_seed(0)
    layer = EKSConv2d(4, 4, 3, padding=1, num_tasks=2, rank=2).to(DEVICE)
    layer.lora_A.requires_grad_(False)
    layer.lora_B.requires_grad_(False)
    x = torch.randn(3, 4, 5, 5, device=DEVICE, requires_grad=True)
    previous = torch.are_deterministic_algorithms_enabled()
    with backends.use("triton", DEVICE), backends.triton_strategy("split"):
        try:
            torch.use_deterministic_algorithms(True)
            layer(x, torch.tensor([0, 1, 1], device=DEVICE)).sum().backward()
        finally:
            torch.use_deterministic_algorithms(previous)
    assert x.grad is not None and layer.weight.grad is not None
