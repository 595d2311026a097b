"""Parameters and helpers shared by the EKS layers."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn


def init_lora_(lora_A: torch.Tensor, lora_B: torch.Tensor) -> None:
    """LoRA's initialisation: kaiming-uniform A per task, zero B (so every expert starts at 0)."""
    with torch.no_grad():
        for a in lora_A:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        lora_B.zero_()


def make_lora_parameters(num_tasks: int, rank: int, out_dim: int, k_dim: int,
                         device=None, dtype=None) -> tuple:
    """Stacked ``lora_A (T, r, K)`` and ``lora_B (T, out, r)`` parameters."""
    if not isinstance(num_tasks, int) or num_tasks < 1:
        raise ValueError(f"num_tasks must be a positive integer, got {num_tasks!r}")
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    factory = {"device": device, "dtype": dtype}
    lora_A = nn.Parameter(torch.empty(num_tasks, rank, k_dim, **factory))
    lora_B = nn.Parameter(torch.empty(num_tasks, out_dim, rank, **factory))
    init_lora_(lora_A, lora_B)
    return lora_A, lora_B


def lora_scaling(rank: int, alpha: Optional[float]) -> float:
    """``alpha / rank``; alpha defaults to rank (scaling 1)."""
    return float(rank if alpha is None else alpha) / rank


def check_task_index(task: int, num_tasks: int) -> int:
    if not isinstance(task, int) or isinstance(task, bool) or not 0 <= task < num_tasks:
        raise IndexError(f"task must be an integer in [0, {num_tasks}), got {task!r}")
    return task


def as_task_ids(task_ids, x: torch.Tensor) -> torch.Tensor:
    """Accept a task tensor ``(N,)`` or one int for the whole batch."""
    if task_ids is None:
        raise ValueError("task_ids is required: pass an int64 tensor (N,) or an int for the "
                         "whole batch")
    if isinstance(task_ids, int) and not isinstance(task_ids, bool):
        return torch.full((x.shape[0],), task_ids, dtype=torch.int64, device=x.device)
    if not isinstance(task_ids, torch.Tensor):
        raise TypeError(f"task_ids must be an int64 tensor or an int, got "
                        f"{type(task_ids).__name__}")
    return task_ids
