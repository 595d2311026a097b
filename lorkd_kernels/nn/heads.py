"""``TaskHeads``: one linear classifier per task, each with its own label space."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, cast

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_task_id_range
from ..task_plan import host_may_read
from ._lora import as_task_ids

# The logit of a class a task does not have (see the padding contract of TaskHeads).
_PADDING = float("-inf")


class TaskHeads(nn.Module):
    """Per-task linear heads over shared features.

    ``forward(features, task_ids=None)`` returns logits of shape ``(N, max(num_classes))``: row
    ``n`` holds task ``t_n``'s logits in its first ``num_classes[t_n]`` columns and ``-inf``
    after them (slice ``[:, :num_classes[t]]`` for one task). ``task_ids`` may be None inside a
    :class:`~lorkd_kernels.routing.TaskRouter`. ``heads[t]`` is a plain ``nn.Linear``.

    Padding contract: a padding column can never pass for a class. ``argmax`` over a row picks
    one of its task's classes, ``softmax`` gives padding exactly 0, and ``cross_entropy`` against
    the row's own labels is finite, gradients included. Terms that multiply a probability by a
    log-probability (KL divergence, entropy) give ``0 * -inf = NaN`` in padding columns: mask them
    first, as ``lorkd_kernels.pipeline.losses.task_logits`` does.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: Sequence[int],
        bias: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        num_classes = [int(c) for c in num_classes]
        if not num_classes or min(num_classes) < 1:
            raise ValueError(
                f"num_classes must list at least one positive class count per "
                f"task, got {num_classes!r}"
            )
        self.in_features = in_features
        self.num_classes = num_classes
        self.heads = nn.ModuleList(
            nn.Linear(in_features, c, bias, device=device, dtype=dtype) for c in num_classes
        )
        self._width = max(num_classes)
        # Per device: where each task's columns start among every head's stacked outputs, and
        # how many it has. Not buffers: they follow from num_classes, and a model built on the
        # meta device and materialised with to_empty would leave buffers uninitialised.
        self._column_tables: Dict[torch.device, Tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def num_tasks(self) -> int:
        return len(self.num_classes)

    def select(self, tasks: Sequence[int]) -> "TaskHeads":
        """Heads for the tasks at positions ``tasks`` of this one, in that order (sharing their
        parameters): a model's heads matched to another task list."""
        if any(isinstance(t, bool) or not 0 <= t < self.num_tasks for t in tasks) or not tasks:
            raise IndexError(f"tasks must be positions in [0, {self.num_tasks}), got {tasks!r}")
        first = self.heads[0]
        chosen = TaskHeads(
            self.in_features,
            [self.num_classes[t] for t in tasks],
            first.bias is not None,
            device="meta",
        )
        chosen.heads = nn.ModuleList(self.heads[t] for t in tasks)
        return chosen

    def forward(self, features: torch.Tensor, task_ids=None) -> torch.Tensor:
        task_ids = as_task_ids(task_ids, features)
        if task_ids.shape != features.shape[:1]:
            raise ValueError(
                f"task_ids must have shape ({features.shape[0]},), got {tuple(task_ids.shape)}"
            )
        if host_may_read(task_ids):
            # from the batch's plan when it carries one: no second read of the ids
            check_task_id_range(task_ids, self.num_tasks)
        # Every head at once: one GEMM over the heads' stacked weights, then each row takes its
        # own task's columns. No data-dependent shapes, so no host read and no per-task launches;
        # an absent task's head gets an exactly zero gradient (no row takes its columns).
        # heads[t] are nn.Linear, all with a bias or all without
        weight = torch.cat(cast(List[torch.Tensor], [head.weight for head in self.heads]))
        bias = (
            torch.cat(cast(List[torch.Tensor], [head.bias for head in self.heads]))
            if self.heads[0].bias is not None
            else None
        )
        every_head = F.linear(features, weight, bias)
        first_column, class_counts = self._columns(features.device)
        task = task_ids.clamp(0, self.num_tasks - 1)
        column = torch.arange(self._width, device=features.device)
        owned = column < class_counts[task].unsqueeze(1)
        index = torch.where(owned, first_column[task].unsqueeze(1) + column, 0)
        logits = torch.where(owned, every_head.gather(1, index), _PADDING)
        # Where the host could not check the ids (torch.compile, CUDA-graph capture) a row with an
        # id outside [0, T) is NaN, the ops' contract for unchecked ids.
        bad = (task_ids < 0) | (task_ids >= self.num_tasks)
        return torch.where(bad.unsqueeze(1), float("nan"), logits)

    def _columns(self, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        tables = self._column_tables.get(device)
        if tables is None:
            starts = [sum(self.num_classes[:t]) for t in range(self.num_tasks)]
            tables = (
                torch.tensor(starts, device=device),
                torch.tensor(self.num_classes, device=device),
            )
            self._column_tables[device] = tables
        return tables

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"
