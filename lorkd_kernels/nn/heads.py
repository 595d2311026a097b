"""``TaskHeads``: one linear classifier per task, each with its own label space."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

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

    def __init__(self, in_features: int, num_classes: Sequence[int], bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        num_classes = [int(c) for c in num_classes]
        if not num_classes or min(num_classes) < 1:
            raise ValueError(f"num_classes must list at least one positive class count per "
                             f"task, got {num_classes!r}")
        self.in_features = in_features
        self.num_classes = num_classes
        self.heads = nn.ModuleList(nn.Linear(in_features, c, bias, device=device, dtype=dtype)
                                   for c in num_classes)

    @property
    def num_tasks(self) -> int:
        return len(self.num_classes)

    def forward(self, features: torch.Tensor, task_ids=None) -> torch.Tensor:
        task_ids = as_task_ids(task_ids, features)
        if task_ids.shape != features.shape[:1]:
            raise ValueError(f"task_ids must have shape ({features.shape[0]},), got "
                             f"{tuple(task_ids.shape)}")
        if torch.compiler.is_compiling():
            return self._traced_logits(features, task_ids)
        logits = features.new_full((features.shape[0], max(self.num_classes)), _PADDING)
        present = torch.unique(task_ids).tolist()
        if present and not 0 <= min(present) <= max(present) < self.num_tasks:
            raise IndexError(f"task ids must be in [0, {self.num_tasks}), got {present}")
        # Every head runs, on no rows when its task is absent: its parameters then stay in the
        # graph with exactly zero gradient, so DDP never meets an unused parameter.
        for task in range(self.num_tasks):
            rows = (task_ids == task).nonzero().squeeze(1)
            task_logits = self.heads[task](features.index_select(0, rows))
            padded = F.pad(task_logits, (0, logits.shape[1] - task_logits.shape[1]),
                           value=_PADDING)
            logits = logits.index_copy(0, rows, padded)
        return logits

    def _traced_logits(self, features: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        """The same logits in a form ``torch.compile`` traces without a graph break: which tasks
        are present and which rows they own are data, so every head runs on every row and each
        row keeps its own task's logits. Heads are small, and the gradients are the eager ones
        (a row adds nothing to another task's head). The host cannot range-check the ids here, so
        a row whose id is outside ``[0, T)`` is NaN (the ops' contract for unchecked ids)."""
        width = max(self.num_classes)
        logits = features.new_full((features.shape[0], width), float("nan"))
        for task, head in enumerate(self.heads):
            padded = F.pad(head(features), (0, width - self.num_classes[task]), value=_PADDING)
            logits = torch.where((task_ids == task).unsqueeze(1), padded, logits)
        return logits

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"
