"""Grouping a mixed-task batch into contiguous per-task segments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

from ..task_plan import attached_plan, plan_batch


@dataclass(frozen=True)
class Segments:
    """A batch viewed as contiguous runs of one task each.

    ``order`` is the permutation that sorts the batch by task (``None`` when it already is), and
    ``runs`` lists ``(task, start, length)`` in that sorted order, one per task present.
    """

    order: Optional[torch.Tensor]
    runs: List[tuple]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` reordered so that each task's samples are contiguous."""
        return t if self.order is None else t.index_select(0, self.order)

    def scatter(self, t_sorted: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`gather` (``t_sorted`` is in sorted order)."""
        if self.order is None:
            return t_sorted
        out = torch.empty_like(t_sorted)
        out.index_copy_(0, self.order, t_sorted)
        return out


def task_segments(task_ids: torch.Tensor, num_tasks: int) -> Segments:
    """Split ``task_ids`` into per-task runs, from the batch's task plan (``task_plan.py``): ids
    that carry one are not read again; others are read once here (a host sync on accelerators).
    IndexError if an id lies outside ``[0, num_tasks)``."""
    plan = attached_plan(task_ids)
    if plan is None or plan.host_ids is None:
        plan = plan_batch(task_ids, read_host=True)
    plan.check_range(num_tasks)
    counts = plan.task_counts(num_tasks)
    order = plan.order
    runs, start = [], 0
    for task, count in enumerate(counts):
        if count:
            runs.append((task, start, count))
            start += count
    return Segments(order, runs)
