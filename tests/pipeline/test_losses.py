"""Per-task cross-entropy and distillation on padded multi-task logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lorkd_kernels.pipeline.losses import (FeatureProjection, distillation_kl, logit_distillation,
                                  task_cross_entropy)

NUM_CLASSES = [2, 4, 3]


def _padded(rows):
    """Random padded logits; padding columns hold junk that must not matter."""
    return torch.randn(len(rows), max(NUM_CLASSES)) * 3


def test_cross_entropy_uses_only_each_tasks_classes():
    torch.manual_seed(0)
    task_ids = torch.tensor([0, 1, 2, 1, 0])
    labels = torch.tensor([1, 3, 2, 0, 0])
    logits = _padded(task_ids).requires_grad_()
    loss = task_cross_entropy(logits, labels, task_ids, NUM_CLASSES)
    expected = torch.stack([
        F.cross_entropy(logits[n:n + 1, :NUM_CLASSES[t]], labels[n:n + 1])
        for n, t in enumerate(task_ids.tolist())]).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.count_nonzero(logits.grad[0, 2:]) == 0      # task 0 has 2 classes
    assert torch.isfinite(logits.grad).all()


def test_logit_distillation_is_tau_squared_kl_over_valid_classes():
    torch.manual_seed(1)
    task_ids = torch.tensor([2, 0, 1])
    student, teacher = _padded(task_ids).requires_grad_(), _padded(task_ids)
    tau = 4.0
    loss = logit_distillation(student, teacher, task_ids, NUM_CLASSES, tau)
    expected = torch.stack([
        F.kl_div(F.log_softmax(student[n, :c] / tau, 0), F.softmax(teacher[n, :c] / tau, 0),
                 reduction="sum")
        for n, c in ((n, NUM_CLASSES[t]) for n, t in enumerate(task_ids.tolist()))]).mean()
    torch.testing.assert_close(loss, expected * tau ** 2)
    loss.backward()
    assert torch.isfinite(student.grad).all()


def test_distillation_is_zero_when_student_equals_teacher_and_positive_otherwise():
    logits = torch.randn(4, 6)
    assert distillation_kl(logits, logits, 10.0).abs() < 1e-6
    assert distillation_kl(logits, logits.flip(1), 10.0) > 0


def test_feature_projection_is_fixed_and_keeps_norms_when_shrinking():
    proj = FeatureProjection(teacher_dim=16, student_dim=8, seed=3)
    again = FeatureProjection(teacher_dim=16, student_dim=8, seed=3)
    assert torch.equal(proj.weight, again.weight)
    assert not list(proj.parameters())                     # a buffer: never trained
    torch.testing.assert_close(proj.weight @ proj.weight.t(), torch.eye(8), atol=1e-5,
                               rtol=0)
    assert FeatureProjection(8, 16)(torch.randn(3, 8)).shape == (3, 16)


def test_losses_stay_finite_on_minus_infinity_padding():
    """TaskHeads pad with -inf: cross-entropy and distillation (where 0 * -inf would be NaN)
    mask the padding first, so losses and gradients stay finite and equal to those on junk
    padding."""
    torch.manual_seed(2)
    task_ids, labels = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 3, 2, 0])
    widths = torch.tensor(NUM_CLASSES)[task_ids]
    padding = torch.arange(max(NUM_CLASSES)) >= widths[:, None]
    junk_student, junk_teacher = _padded(task_ids), _padded(task_ids)
    results = []
    for fill in (None, float("-inf")):
        student = junk_student.clone() if fill is None else junk_student.masked_fill(padding, fill)
        teacher = junk_teacher.clone() if fill is None else junk_teacher.masked_fill(padding, fill)
        student.requires_grad_()
        loss = (task_cross_entropy(student, labels, task_ids, NUM_CLASSES)
                + logit_distillation(student, teacher, task_ids, NUM_CLASSES, 4.0))
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
        results.append((loss.detach(), student.grad))
    torch.testing.assert_close(results[1], results[0])
