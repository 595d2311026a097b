"""What every model in this package shares: the classification head and task-id scoping.

A model is a feature extractor followed by ``fc``. With one label space ``fc`` is a plain
``nn.Linear``; with one label space per task it is a :class:`~lorkd_kernels.nn.TaskHeads`. Task ids
given to ``forward`` are made visible to every layer inside for the whole pass (EKS layers and
task heads deep in the network never receive them as arguments).
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Sequence, Union

import torch
from torch import nn

from ...nn import TaskHeads
from ...routing import task_ids_context
from ...task_ids import batch_task_ids

#: an int for one label space, or one class count per task
NumClasses = Union[int, Sequence[int]]


def make_classifier(num_features: int, num_classes: NumClasses) -> nn.Module:
    """``nn.Linear`` for an int ``num_classes``, ``TaskHeads`` for a sequence of ints."""
    if isinstance(num_classes, bool):
        raise TypeError("num_classes must be an int or a sequence of ints, got a bool")
    if isinstance(num_classes, int):
        if num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes}")
        return nn.Linear(num_features, num_classes)
    # a str is a Sequence too, but never a list of class counts
    if isinstance(num_classes, Sequence) and not isinstance(num_classes, str):
        return TaskHeads(num_features, num_classes)
    raise TypeError(
        f"num_classes must be an int or a sequence of ints (one per task), got "
        f"{type(num_classes).__name__}"
    )


def task_scope(task_ids, x: torch.Tensor) -> ContextManager:
    """Context in which every layer sees ``task_ids``; a no-op for None, so the ids of an
    enclosing :class:`~lorkd_kernels.routing.TaskRouter` stay in force."""
    if task_ids is None:
        return contextlib.nullcontext()
    return task_ids_context(batch_task_ids(task_ids, x.shape[0], x.device))


def check_images(x: torch.Tensor, in_channels: int = 3) -> None:
    """Fail early, with the expected layout, on anything but a batch of images."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"expected an image tensor (N, {in_channels}, H, W), got {type(x).__name__}"
        )
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"expected images of shape (N, {in_channels}, H, W), got {tuple(x.shape)}")


class ImageClassifier(nn.Module):
    """Base of the models here: ``forward_features`` (pooled features) then ``fc``.

    ``forward(x, task_ids=None)``: ``task_ids`` (int64 ``(N,)`` or one int) is needed by
    multi-task heads and EKS layers; it may be None inside a ``TaskRouter``. A plain single-task
    model ignores it. Subclasses set ``num_features`` and ``fc``.
    """

    num_features: int
    fc: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, task_ids=None) -> torch.Tensor:
        with task_scope(task_ids, x):
            return self.fc(self.forward_features(x))
