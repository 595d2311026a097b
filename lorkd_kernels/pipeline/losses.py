"""LoRKD's losses on padded multi-task logits: per-task classification loss (cross-entropy for
single-label tasks, per-label binary cross-entropy for multi-label ones) and the task knowledge
transfer term ``τ²·KL(teacher ‖ student)`` on logits and/or features.

Weighting in a mixed batch: every sample contributes one term and the batch loss is the mean
over samples. A single-label sample's term is its cross-entropy (or softmax KL, summed over its
task's classes); a multi-label sample's term is the mean over its task's labels of the binary
cross-entropy (or binary KL). Averaging over labels keeps a 14-label task from weighing 14× a
single-label one, so tasks weigh by their share of the batch, which is what ``--balanced``
controls; and a mean of binary losses has the scale of one binary cross-entropy.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data.labels import decode_multilabel

# Padding columns (classes a task doesn't have) get this logit: softmax gives them exactly zero
# probability while every log stays finite (so 0 * log 0 never turns into NaN).
_ABSENT_LOGIT = -1e9


def valid_class_mask(
    task_ids: torch.Tensor, num_classes: Sequence[int], width: int
) -> torch.Tensor:
    """``(N, width)`` bool: column ``c`` of row ``n`` is a class of task ``t_n``."""
    counts = torch.as_tensor(list(num_classes), device=task_ids.device)[task_ids]
    return torch.arange(width, device=task_ids.device) < counts.unsqueeze(1)


def task_logits(
    logits: torch.Tensor, task_ids: torch.Tensor, num_classes: Sequence[int]
) -> torch.Tensor:
    """Logits in float32 (float64 stays float64) with every row's padding columns pushed to
    (effectively) minus infinity."""
    mask = valid_class_mask(task_ids, num_classes, logits.shape[1])
    dtype = torch.promote_types(logits.dtype, torch.float32)
    return logits.to(dtype).masked_fill(~mask, _ABSENT_LOGIT)


def multilabel_rows(
    task_ids: torch.Tensor, multilabel: Optional[Sequence[bool]]
) -> Optional[torch.Tensor]:
    """``(N,)`` bool: row ``n``'s task is multi-label; None when no task is."""
    if multilabel is None or not any(multilabel):
        return None
    return torch.as_tensor([bool(m) for m in multilabel], device=task_ids.device)[task_ids]


def mean_over_labels(
    values: torch.Tensor, task_ids: torch.Tensor, num_classes: Sequence[int]
) -> torch.Tensor:
    """``(N, width)`` per-label values -> ``(N,)`` means over each row's own task's labels."""
    mask = valid_class_mask(task_ids, num_classes, values.shape[1])
    counts = torch.as_tensor(list(num_classes), device=task_ids.device)[task_ids]
    # masked_fill, not a product: a padding column's value may be huge (its logit is -1e9 and
    # its decoded target may be 1), and its gradient must be exactly zero.
    return values.masked_fill(~mask, 0).sum(dim=1) / counts.to(values.dtype)


def task_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, task_ids: torch.Tensor, num_classes: Sequence[int]
) -> torch.Tensor:
    """Mean cross-entropy of each sample against its own task's classes (single-label tasks)."""
    return F.cross_entropy(task_logits(logits, task_ids, num_classes), labels)


def task_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    task_ids: torch.Tensor,
    num_classes: Sequence[int],
    multilabel: Optional[Sequence[bool]] = None,
) -> torch.Tensor:
    """Batch mean of each sample's loss on its own task: cross-entropy for a single-label task
    (``labels`` a class index), binary cross-entropy with logits averaged over the task's labels
    for a multi-label one (``labels`` a bitmask, ``data/labels.py``); ``multilabel`` is per
    task, like ``num_classes`` (None: every task is single-label)."""
    rows = multilabel_rows(task_ids, multilabel)
    if rows is None:
        return task_cross_entropy(logits, labels, task_ids, num_classes)
    masked = task_logits(logits, task_ids, num_classes)
    # Both losses on every row, then each row keeps its own: no data-dependent indexing (no
    # device sync). A multi-label row's bitmask is no class index, so it reads class 0 there.
    ce = F.cross_entropy(masked, torch.where(rows, 0, labels), reduction="none")
    targets = decode_multilabel(labels, masked.shape[1]).to(masked.dtype)
    bce = mean_over_labels(
        F.binary_cross_entropy_with_logits(masked, targets, reduction="none"), task_ids, num_classes
    )
    return torch.where(rows, bce, ce).mean()


def _softmax_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``(N,)``: ``KL(softmax(teacher/τ) ‖ softmax(student/τ))`` per row, summed over columns."""
    dtype = torch.promote_types(student.dtype, torch.float32)
    log_p_student = F.log_softmax(student.to(dtype) / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher.detach().to(dtype) / temperature, dim=1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)


def binary_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per element: ``KL(Bernoulli(σ(teacher/τ)) ‖ Bernoulli(σ(student/τ)))``, from
    log-sigmoids so that saturated probabilities stay finite."""
    s, t = student / temperature, teacher.detach() / temperature
    log_p_t, log_q_t = F.logsigmoid(t), F.logsigmoid(-t)
    return log_p_t.exp() * (log_p_t - F.logsigmoid(s)) + log_q_t.exp() * (
        log_q_t - F.logsigmoid(-s)
    )


def distillation_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ))``, summed over classes, batch mean."""
    return _softmax_kl(student, teacher, temperature).mean() * temperature**2


def logit_distillation(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    task_ids: torch.Tensor,
    num_classes: Sequence[int],
    temperature: float,
    multilabel: Optional[Sequence[bool]] = None,
) -> torch.Tensor:
    """Distillation on each sample's own task classes (padding columns take no part), ``× τ²``
    and averaged over samples: the softmax KL summed over a single-label task's classes; for a
    multi-label task the per-label binary KL between ``σ(teacher/τ)`` and ``σ(student/τ)``,
    averaged over its labels (as its cross-entropy is)."""
    student = task_logits(student_logits, task_ids, num_classes)
    teacher = task_logits(teacher_logits, task_ids, num_classes).to(student.dtype)
    rows = multilabel_rows(task_ids, multilabel)
    if rows is None:
        return distillation_kl(student, teacher, temperature)
    per_sample = torch.where(
        rows,
        mean_over_labels(binary_kl(student, teacher, temperature), task_ids, num_classes),
        _softmax_kl(student, teacher, temperature),
    )
    return per_sample.mean() * temperature**2


class FeatureProjection(nn.Module):
    """Maps teacher features to the student's width with a fixed random orthogonal matrix.

    Fixed on purpose: the teacher side of the KL is a target, and a projection trained through
    it would learn to copy the student (the KL falls to zero by collapsing the target) instead of
    making the student learn from the teacher.
    """

    weight: torch.Tensor  # a buffer (student_dim, teacher_dim)

    def __init__(self, teacher_dim: int, student_dim: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        matrix = torch.randn(
            max(teacher_dim, student_dim), min(teacher_dim, student_dim), generator=generator
        )
        q, _ = torch.linalg.qr(matrix)  # orthonormal columns
        weight = q.t() if teacher_dim >= student_dim else q  # (student_dim, teacher_dim)
        self.register_buffer("weight", weight.contiguous())

    def forward(self, teacher_features: torch.Tensor) -> torch.Tensor:
        return F.linear(teacher_features.float(), self.weight)
