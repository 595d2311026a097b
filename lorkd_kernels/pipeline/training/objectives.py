"""What each method minimises: per-task classification loss (cross-entropy, or binary
cross-entropy for multi-label tasks), plus the teacher's task knowledge transferred by
``β·τ²·KL`` on logits and/or features for the distilled methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..data.labels import decode_multilabel
from ..losses import (
    FeatureProjection,
    distillation_kl,
    logit_distillation,
    mean_over_labels,
    multilabel_rows,
    task_logits,
    task_loss,
)
from ..metrics import MULTILABEL_THRESHOLD
from ..models import ImageClassifier
from ...routing import task_ids_context


class FeaturesAndLogits(nn.Module):
    """``forward(x, task_ids) -> (features, logits)`` of a classifier with ``forward_features``
    and ``fc``, with the task ids visible to every layer inside. The training loop calls models
    through this wrapper so that DDP (which hooks ``forward``) sees one call per step."""

    def __init__(self, model: ImageClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, task_ids: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        with task_ids_context(task_ids):
            features = self.model.forward_features(x)
            return features, self.model.fc(features)


@dataclass
class Teacher:
    """A frozen multi-task teacher, called on the dataset's task ids."""

    model: nn.Module  # FeaturesAndLogits around the teacher classifier

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, task_ids: torch.Tensor):
        return self.model(images, task_ids)


class Objective(nn.Module):
    """Loss of a student (or teacher) on one sorted micro-batch.

    ``task_map`` maps the dataset's task ids to the model's head indices (a single-task student
    has one head, index 0, for its dataset task). ``multilabel`` says per model task (like
    ``num_classes``) whether its labels are bitmasks of several yes/no labels (default: none
    is). The projection of teacher features is a buffer, saved with the student's training
    state.
    """

    task_map: torch.Tensor  # a buffer: dataset task id -> model head index

    def __init__(
        self,
        num_classes: Sequence[int],
        task_map: Optional[Sequence[int]] = None,
        teacher: Optional[Teacher] = None,
        beta: float = 0.0,
        temperature: float = 1.0,
        kd_on: str = "logits",
        student_features: int = 0,
        teacher_features: int = 0,
        seed: int = 0,
        multilabel: Optional[Sequence[bool]] = None,
    ) -> None:
        super().__init__()
        self.num_classes = list(num_classes)
        self.multilabel = (
            [bool(m) for m in multilabel]
            if multilabel is not None
            else [False] * len(self.num_classes)
        )
        if len(self.multilabel) != len(self.num_classes):
            raise ValueError(
                f"multilabel has {len(self.multilabel)} entries for {len(self.num_classes)} tasks"
            )
        self.register_buffer(
            "task_map",
            torch.as_tensor(
                list(task_map) if task_map is not None else range(len(self.num_classes))
            ),
        )
        self.teacher = teacher
        self.beta, self.temperature, self.kd_on = beta, temperature, kd_on
        use_features = teacher is not None and kd_on in ("features", "both")
        self.projection = (
            FeatureProjection(teacher_features, student_features, seed) if use_features else None
        )

    def forward(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        model_tasks = self.task_map.to(task_ids.device)[task_ids]
        features, logits = model(images, model_tasks)
        ce = task_loss(logits, labels, model_tasks, self.num_classes, self.multilabel)
        stats = {"ce": ce.detach(), "correct": self._correct(logits, labels, model_tasks)}
        if self.teacher is None or self.beta == 0:
            return ce, stats
        teacher_features, teacher_logits = self.teacher(images, task_ids)
        kd = ce.new_zeros(())
        if self.kd_on in ("logits", "both"):
            # The student's columns are the first classes of each task in the teacher's too.
            kd = kd + logit_distillation(
                logits,
                teacher_logits[:, : logits.shape[1]],
                model_tasks,
                self.num_classes,
                self.temperature,
                self.multilabel,
            )
        if self.projection is not None:
            kd = kd + distillation_kl(features, self.projection(teacher_features), self.temperature)
        stats["kd"] = kd.detach()
        return ce + self.beta * kd, stats

    def _correct(
        self, logits: torch.Tensor, labels: torch.Tensor, model_tasks: torch.Tensor
    ) -> torch.Tensor:
        """Correct predictions summed over the batch: 1 or 0 per single-label sample; for a
        multi-label sample, the share of its labels right at probability 0.5 (the accuracy
        ``metrics.multilabel_metrics`` reports)."""
        masked = task_logits(logits.detach(), model_tasks, self.num_classes)
        single = (masked.argmax(1) == labels).to(masked.dtype)
        rows = multilabel_rows(model_tasks, self.multilabel)
        if rows is None:
            return single.sum()
        predicted = torch.sigmoid(masked) > MULTILABEL_THRESHOLD
        right = (predicted == decode_multilabel(labels, masked.shape[1]).bool()).to(masked.dtype)
        return torch.where(
            rows, mean_over_labels(right, model_tasks, self.num_classes), single
        ).sum()
