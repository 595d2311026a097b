"""Per-task cross-entropy and distillation on padded multi-task logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import pytest

from lorkd_kernels.pipeline.data.labels import decode_multilabel, encode_multilabel
from lorkd_kernels.pipeline.losses import (
    FeatureProjection,
    binary_kl,
    distillation_kl,
    logit_distillation,
    task_cross_entropy,
    task_loss,
)

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
    expected = torch.stack(
        [
            F.cross_entropy(logits[n : n + 1, : NUM_CLASSES[t]], labels[n : n + 1])
            for n, t in enumerate(task_ids.tolist())
        ]
    ).mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.count_nonzero(logits.grad[0, 2:]) == 0  # task 0 has 2 classes
    assert torch.isfinite(logits.grad).all()


def test_logit_distillation_is_tau_squared_kl_over_valid_classes():
    torch.manual_seed(1)
    task_ids = torch.tensor([2, 0, 1])
    student, teacher = _padded(task_ids).requires_grad_(), _padded(task_ids)
    tau = 4.0
    loss = logit_distillation(student, teacher, task_ids, NUM_CLASSES, tau)
    expected = torch.stack(
        [
            F.kl_div(
                F.log_softmax(student[n, :c] / tau, 0),
                F.softmax(teacher[n, :c] / tau, 0),
                reduction="sum",
            )
            for n, c in ((n, NUM_CLASSES[t]) for n, t in enumerate(task_ids.tolist()))
        ]
    ).mean()
    torch.testing.assert_close(loss, expected * tau**2)
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
    assert not list(proj.parameters())  # a buffer: never trained
    torch.testing.assert_close(proj.weight @ proj.weight.t(), torch.eye(8), atol=1e-5, rtol=0)
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
        loss = task_cross_entropy(student, labels, task_ids, NUM_CLASSES) + logit_distillation(
            student, teacher, task_ids, NUM_CLASSES, 4.0
        )
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
        results.append((loss.detach(), student.grad))
    torch.testing.assert_close(results[1], results[0])


# ------------------------------------------------------------------ multi-label tasks
# Task 1 is multi-label with 3 labels (width 4: one padding column for its rows).
MIXED_CLASSES, MIXED_MULTILABEL = [4, 3, 2], [False, True, False]


def _mixed_batch(seed: int):
    """float64 padded logits of a mixed batch, its task ids and labels (class indices for the
    single-label rows, bitmasks for the multi-label rows)."""
    generator = torch.Generator().manual_seed(seed)
    task_ids = torch.tensor([1, 0, 1, 2, 1, 0])
    targets = torch.randint(0, 2, (len(task_ids), 3), generator=generator)
    classes = torch.tensor([3, 1, 0, 1, 2, 0])
    labels = torch.where(
        task_ids == 1, torch.from_numpy(encode_multilabel(targets.numpy())), classes
    )
    logits = torch.randn(len(task_ids), 4, generator=generator, dtype=torch.float64) * 3
    return logits, task_ids, labels


def _rows(task_ids, multilabel: bool):
    return [n for n, t in enumerate(task_ids.tolist()) if MIXED_MULTILABEL[t] == multilabel]


def test_multilabel_loss_is_binary_cross_entropy_over_the_tasks_labels():
    logits, task_ids, labels = _mixed_batch(0)
    logits.requires_grad_()
    loss = task_loss(logits, labels, task_ids, MIXED_CLASSES, MIXED_MULTILABEL)
    assert loss.dtype == torch.float64
    per_sample = []
    for n, t in enumerate(task_ids.tolist()):
        c = MIXED_CLASSES[t]
        if MIXED_MULTILABEL[t]:
            target = decode_multilabel(labels[n : n + 1], c).double()
            per_sample.append(F.binary_cross_entropy_with_logits(logits[n : n + 1, :c], target))
        else:
            per_sample.append(F.cross_entropy(logits[n : n + 1, :c], labels[n : n + 1]))
    torch.testing.assert_close(loss, torch.stack(per_sample).mean(), rtol=1e-12, atol=1e-12)
    loss.backward()
    assert torch.isfinite(logits.grad).all()
    padding = torch.arange(4) >= torch.tensor(MIXED_CLASSES)[task_ids][:, None]
    assert padding[task_ids == 1].any()  # the multi-label rows have some
    assert torch.count_nonzero(logits.grad[padding]) == 0
    assert torch.count_nonzero(logits.grad[~padding]) == (~padding).sum()


def test_multilabel_distillation_is_tau_squared_binary_kl_averaged_over_labels():
    student, task_ids, _ = _mixed_batch(1)
    teacher = _mixed_batch(2)[0]
    student.requires_grad_()
    tau = 4.0
    loss = logit_distillation(student, teacher, task_ids, MIXED_CLASSES, tau, MIXED_MULTILABEL)
    per_sample = []
    for n, t in enumerate(task_ids.tolist()):
        c = MIXED_CLASSES[t]
        s, q = student[n, :c] / tau, teacher[n, :c] / tau
        if MIXED_MULTILABEL[t]:  # by hand: p log(p/q) + (1-p) log((1-p)/(1-q)), label mean
            p, r = torch.sigmoid(q), torch.sigmoid(s)
            per_sample.append(
                (p * torch.log(p / r) + (1 - p) * torch.log((1 - p) / (1 - r))).mean()
            )
        else:
            per_sample.append(F.kl_div(F.log_softmax(s, 0), F.softmax(q, 0), reduction="sum"))
    torch.testing.assert_close(
        loss, torch.stack(per_sample).mean() * tau**2, rtol=1e-10, atol=1e-12
    )
    loss.backward()
    padding = torch.arange(4) >= torch.tensor(MIXED_CLASSES)[task_ids][:, None]
    assert torch.isfinite(student.grad).all()
    assert torch.count_nonzero(student.grad[padding]) == 0


def test_binary_kl_is_zero_for_equal_logits_positive_otherwise_and_finite_when_saturated():
    logits = torch.tensor([[-3.0, 0.0, 5.0]], dtype=torch.float64)
    assert binary_kl(logits, logits, 2.0).abs().max() < 1e-12
    assert (binary_kl(logits, -logits, 2.0)[:, [0, 2]] > 0).all()
    saturated = torch.tensor([[1e4, -1e4]], dtype=torch.float64, requires_grad=True)
    kl = binary_kl(saturated, torch.tensor([[-1e4, 1e4]], dtype=torch.float64), 1.0)
    kl.sum().backward()
    assert torch.isfinite(kl).all() and torch.isfinite(saturated.grad).all()


@pytest.mark.parametrize("which", ["loss", "distillation"])
def test_mixed_batch_is_the_sample_weighted_sum_of_its_single_and_multilabel_parts(which):
    logits, task_ids, labels = _mixed_batch(3)
    teacher = _mixed_batch(4)[0]

    def compute(rows):
        part = logits[rows].detach().requires_grad_()
        if which == "loss":
            value = task_loss(part, labels[rows], task_ids[rows], MIXED_CLASSES, MIXED_MULTILABEL)
        else:
            value = logit_distillation(
                part, teacher[rows], task_ids[rows], MIXED_CLASSES, 4.0, MIXED_MULTILABEL
            )
        (value * len(rows)).backward()  # its share of the batch sum
        return value * len(rows), part.grad

    everything = list(range(len(task_ids)))
    whole, whole_grad = compute(everything)
    single, multi = _rows(task_ids, False), _rows(task_ids, True)
    assert single and multi
    (single_sum, single_grad), (multi_sum, multi_grad) = compute(single), compute(multi)
    # Every sample weighs the same: the batch mean is (sum over single rows + sum over
    # multi-label rows) / N, whatever the mix.
    torch.testing.assert_close(
        whole / len(everything), (single_sum + multi_sum) / len(everything), rtol=1e-12, atol=0
    )
    torch.testing.assert_close(whole_grad[single], single_grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(whole_grad[multi], multi_grad, rtol=1e-12, atol=1e-15)


def test_multilabel_losses_match_on_minus_infinity_padding():
    """TaskHeads pad with -inf: the multi-label losses mask it like the single-label ones."""
    logits, task_ids, labels = _mixed_batch(5)
    teacher = _mixed_batch(6)[0]
    padding = torch.arange(4) >= torch.tensor(MIXED_CLASSES)[task_ids][:, None]
    results = []
    for fill in (None, float("-inf")):
        student = logits.clone() if fill is None else logits.masked_fill(padding, fill)
        target = teacher.clone() if fill is None else teacher.masked_fill(padding, fill)
        student.requires_grad_()
        loss = task_loss(
            student, labels, task_ids, MIXED_CLASSES, MIXED_MULTILABEL
        ) + logit_distillation(student, target, task_ids, MIXED_CLASSES, 4.0, MIXED_MULTILABEL)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
        results.append((loss.detach(), student.grad))
    torch.testing.assert_close(results[1], results[0])


def test_without_multilabel_tasks_the_loss_is_the_cross_entropy():
    logits, labels = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1])
    task_ids = torch.tensor([0, 1, 0, 1, 1])
    expected = task_cross_entropy(logits, labels, task_ids, [2, 4])
    for flags in (None, [False, False]):
        assert torch.equal(task_loss(logits, labels, task_ids, [2, 4], flags), expected)
