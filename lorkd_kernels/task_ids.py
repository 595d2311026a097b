"""Task ids of a mixed batch: accepted forms, checks, and the order that sorts a batch by task.

Every place that takes task ids from a user (the layers, ``TaskRouter``, the model classes) goes
through :func:`batch_task_ids`, and every place that groups a batch by task (the router, the
Python backends, the training loop) through :func:`task_order`, so they agree on what is valid
and on the order.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch


def batch_task_ids(task_ids, batch: int, device: Optional[torch.device] = None) -> torch.Tensor:
    """``task_ids`` as an int64 tensor ``(batch,)``: one int stands for the whole batch.

    Raises ``TypeError`` / ``ValueError`` naming what is wrong. The values are range-checked by
    the ops (against each layer's number of tasks). With ``device`` the ids are moved there.
    """
    if isinstance(task_ids, int) and not isinstance(task_ids, bool):
        return torch.full(
            (batch,), task_ids, dtype=torch.int64, device=device if device is not None else "cpu"
        )
    if not isinstance(task_ids, torch.Tensor):
        raise TypeError(
            f"task_ids must be an int64 tensor (N,) or an int, got {type(task_ids).__name__}"
        )
    if task_ids.dim() != 1 or task_ids.shape[0] != batch:
        raise ValueError(
            f"task_ids must have shape ({batch},) to match the batch, got {tuple(task_ids.shape)}"
        )
    if task_ids.dtype != torch.int64:
        raise TypeError(f"task_ids must be int64, got {task_ids.dtype}")
    return task_ids if device is None else task_ids.to(device)


def is_sorted(task_ids: torch.Tensor) -> bool:
    """Whether the ids never decrease (reads them: a host sync on accelerators)."""
    return task_ids.numel() < 2 or bool((task_ids[1:] >= task_ids[:-1]).all())


def task_order(task_ids: torch.Tensor) -> Optional[torch.Tensor]:
    """The stable permutation that sorts the batch by task, or None when it already is sorted
    (so callers can use views instead of copies).

    Under ``torch.compile`` / ``torch.export`` the permutation is always returned: whether the
    batch is sorted is a fact about the ids' values, which a traced graph cannot branch on
    without a graph break (and a guard per batch composition). Sorting a sorted batch is cheap
    and gives the identity permutation.
    """
    if torch.compiler.is_compiling():
        return torch.argsort(task_ids, stable=True)
    return None if is_sorted(task_ids) else torch.argsort(task_ids, stable=True)


def sort_by_task(task_ids: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``(order, inverse)``: ``task_ids[order]`` is sorted (stable), ``sorted[inverse]`` undoes it;
    ``(None, None)`` when the ids are already sorted (never under ``torch.compile``)."""
    order = task_order(task_ids)
    if order is None:
        return None, None
    return order, inverse_permutation(order)


def inverse_permutation(order: torch.Tensor) -> torch.Tensor:
    """The permutation that undoes ``order`` (``t[order][inverse] == t``)."""
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return inverse
