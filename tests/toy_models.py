"""A small CNN in the shape of a torchvision classifier, for conversion and routing tests."""

from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from lorkd_kernels import TaskHeads


class ToyNet(nn.Module):
    """Dense, strided, depthwise and grouped convs, BatchNorm, a hidden linear and a head ``fc``
    that is ``TaskHeads`` for a list of class counts and ``nn.Linear`` for one count."""

    def __init__(self, num_classes: Union[int, Sequence[int]] = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),  # depthwise
            nn.BatchNorm2d(8),
            nn.Conv2d(8, 12, 1, groups=2),  # grouped 1x1
            nn.ReLU(),
            nn.Conv2d(12, 16, 3, padding=1, padding_mode="reflect"),
        )
        self.hidden = nn.Linear(16, 10)
        if isinstance(num_classes, int):
            self.fc = nn.Linear(10, num_classes)
        else:
            self.fc = TaskHeads(10, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.block(self.stem(x)).mean(dim=(2, 3))
        return self.fc(torch.relu(self.hidden(features)))


def randomize_experts(model: nn.Module, seed: int = 0) -> None:
    """Give every expert a non-zero B so tasks differ (a fresh conversion starts at zero)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)


def rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12)).item()
