"""Parameters and helpers shared by the EKS layers."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Optional

import torch
from torch import nn

from ..expert_weights import merged_weight, task_delta
from ..routing import current_task_ids
from ..task_ids import batch_task_ids


def init_lora_(lora_A: torch.Tensor, lora_B: torch.Tensor) -> None:
    """LoRA's initialisation: kaiming-uniform A per task, zero B (so every expert starts at 0)."""
    with torch.no_grad():
        for a in lora_A:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        lora_B.zero_()


def make_lora_parameters(
    num_tasks: int, rank: int, out_dim: int, k_dim: int, device=None, dtype=None
) -> tuple:
    """Stacked ``lora_A (T, r, K)`` and ``lora_B (T, out, r)`` parameters."""
    for name, value in (("num_tasks", num_tasks), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    factory = {"device": device, "dtype": dtype}
    lora_A = nn.Parameter(torch.empty(num_tasks, rank, k_dim, **factory))
    lora_B = nn.Parameter(torch.empty(num_tasks, out_dim, rank, **factory))
    init_lora_(lora_A, lora_B)
    return lora_A, lora_B


def lora_scaling(rank: int, alpha: Optional[float]) -> float:
    """``alpha / rank``; alpha defaults to rank (scaling 1), else a finite real number."""
    if alpha is not None and (
        isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha)
    ):
        raise ValueError(f"alpha must be a finite number (or None: the rank), got {alpha!r}")
    return float(rank if alpha is None else alpha) / rank


def check_task_index(task: int, num_tasks: int) -> int:
    if not isinstance(task, int) or isinstance(task, bool) or not 0 <= task < num_tasks:
        raise IndexError(f"task must be an integer in [0, {num_tasks}), got {task!r}")
    return task


def as_task_ids(task_ids, x: torch.Tensor) -> torch.Tensor:
    """Accept a task tensor ``(N,)``, one int for the whole batch, or None: the ids of the
    enclosing :func:`lorkd_kernels.routing.task_ids_context` (set by ``TaskRouter``)."""
    if task_ids is None:
        task_ids = current_task_ids()
        if task_ids is None:
            raise ValueError(
                "task_ids is required: pass an int64 tensor (N,) or an int for the "
                "whole batch, or call the model through lorkd_kernels.TaskRouter "
                "(or inside lorkd_kernels.task_ids_context)"
            )
        if task_ids.shape[0] != x.shape[0]:
            raise ValueError(
                f"the routed task ids are for a batch of {task_ids.shape[0]} but "
                f"this layer got a batch of {x.shape[0]}"
            )
    return batch_task_ids(task_ids, x.shape[0], x.device)


if TYPE_CHECKING:
    # mixed into nn.Conv2d / nn.Linear subclasses: super() reaches nn.Module's methods
    _MixinBase = nn.Module
else:
    _MixinBase = object


class LowRankExperts(_MixinBase):
    """What the EKS layers share: ``weight`` (W0), ``lora_A (T, r, K)``, ``lora_B (T, out, r)``
    and ``scaling``, and the per-task views of them."""

    weight: torch.Tensor
    lora_A: torch.Tensor
    lora_B: torch.Tensor
    num_tasks: int
    rank: int
    scaling: float

    def reset_lora_parameters(self) -> None:
        init_lora_(self.lora_A, self.lora_B)

    def expert_delta(self, task: int) -> torch.Tensor:
        """``s * B_t @ A_t`` in the weight's shape, float32 (float64 for a float64 layer)."""
        check_task_index(task, self.num_tasks)
        with torch.no_grad():
            return task_delta(self.weight, self.lora_A, self.lora_B, self.scaling, task)

    def expert_weight(self, task: int) -> torch.Tensor:
        """The merged weight ``W0 + s * B_t @ A_t`` of one task, in the weight's dtype."""
        check_task_index(task, self.num_tasks)
        with torch.no_grad():
            return merged_weight(self.weight, self.lora_A, self.lora_B, self.scaling, task)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, num_tasks={self.num_tasks}, rank={self.rank}, "
            f"scaling={self.scaling:g}"
        )
