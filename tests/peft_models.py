"""Students and peft models with non-trivial weights, for the peft bridge's tests."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from lorkd_kernels import convert
from lorkd_kernels.conversion import EKS_LAYERS
from tests.toy_models import rel_error


@torch.no_grad()
def settle_batchnorm(model: nn.Module, *inputs) -> nn.Module:
    """Running statistics from one batch, so that eval-mode outputs vary with the input (fresh
    statistics would leave a random network's logits almost constant)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.momentum = 1.0
    model.train()(*inputs)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def trained_student(
    base: nn.Module, num_tasks: int, seed: int = 0, image_size: int = 32, **convert_kwargs
) -> nn.Module:
    """``convert(base)`` with random non-zero experts (a fresh conversion starts at zero) and
    settled BatchNorm statistics; in eval mode."""
    student = convert(base, num_tasks, **{"rank": 4, "alpha": 16, **convert_kwargs})
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in student.modules():
            if isinstance(module, EKS_LAYERS):
                module.lora_B.copy_(torch.randn(module.lora_B.shape, generator=gen) * 0.05)
    dtype = next(student.parameters()).dtype
    images = torch.randn(16, 3, image_size, image_size, generator=gen).to(dtype)
    return settle_batchnorm(student, images, torch.arange(16) % num_tasks)


def mixed_batch(num_tasks: int, batch: int = 6, image_size: int = 32, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen)
    return images, torch.randperm(batch, generator=gen) % num_tasks


def differs(a: torch.Tensor, b: torch.Tensor, at_least: float = 1e-3) -> bool:
    return rel_error(a, b) > at_least


def names(count: int) -> Sequence[str]:
    return [f"task_{t}" for t in range(count)]
