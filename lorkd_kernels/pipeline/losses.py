"""LoRKD's losses on padded multi-task logits: per-task cross-entropy and the task knowledge
transfer term ``τ²·KL(teacher ‖ student)`` on logits and/or features."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Padding columns (classes a task doesn't have) get this logit: softmax gives them exactly zero
# probability while every log stays finite (so 0 * log 0 never turns into NaN).
_ABSENT_LOGIT = -1e9


def valid_class_mask(task_ids: torch.Tensor, num_classes: Sequence[int],
                     width: int) -> torch.Tensor:
    """``(N, width)`` bool: column ``c`` of row ``n`` is a class of task ``t_n``."""
    counts = torch.as_tensor(list(num_classes), device=task_ids.device)[task_ids]
    return torch.arange(width, device=task_ids.device) < counts.unsqueeze(1)


def task_logits(logits: torch.Tensor, task_ids: torch.Tensor,
                num_classes: Sequence[int]) -> torch.Tensor:
    """Float32 logits with every row's padding columns pushed to (effectively) minus infinity."""
    mask = valid_class_mask(task_ids, num_classes, logits.shape[1])
    return logits.float().masked_fill(~mask, _ABSENT_LOGIT)


def task_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor,
                       num_classes: Sequence[int]) -> torch.Tensor:
    """Mean cross-entropy of each sample against its own task's classes."""
    return F.cross_entropy(task_logits(logits, task_ids, num_classes), labels)


def distillation_kl(student: torch.Tensor, teacher: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """``τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ))``, summed over classes, batch mean."""
    log_p_student = F.log_softmax(student.float() / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher.detach().float() / temperature, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
    return kl.mean() * temperature ** 2


def logit_distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       task_ids: torch.Tensor, num_classes: Sequence[int],
                       temperature: float) -> torch.Tensor:
    """Distillation on each sample's own task classes (padding columns take no part)."""
    return distillation_kl(task_logits(student_logits, task_ids, num_classes),
                           task_logits(teacher_logits, task_ids, num_classes), temperature)


class FeatureProjection(nn.Module):
    """Maps teacher features to the student's width with a fixed random orthogonal matrix.

    Fixed on purpose: the teacher side of the KL is a target, and a projection trained through
    it would learn to copy the student (the KL falls to zero by collapsing the target) instead of
    making the student learn from the teacher.
    """

    def __init__(self, teacher_dim: int, student_dim: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        matrix = torch.randn(max(teacher_dim, student_dim), min(teacher_dim, student_dim),
                             generator=generator)
        q, _ = torch.linalg.qr(matrix)                        # orthonormal columns
        weight = q.t() if teacher_dim >= student_dim else q   # (student_dim, teacher_dim)
        self.register_buffer("weight", weight.contiguous())

    def forward(self, teacher_features: torch.Tensor) -> torch.Tensor:
        return F.linear(teacher_features.float(), self.weight)
