"""The training objective on a mixed batch with a multi-label task: its loss and the training
accuracy the epoch log reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lorkd_kernels.pipeline.data.labels import encode_multilabel
from lorkd_kernels.pipeline.losses import logit_distillation, task_loss
from lorkd_kernels.pipeline.training.objectives import Objective, Teacher

NUM_CLASSES, MULTILABEL = [3, 4], [False, True]


class FixedLogits(nn.Module):
    """A 'model' whose logits are given: ``forward(images, task_ids) -> (features, logits)``."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, images, task_ids):
        return self.logits.new_zeros(len(self.logits), 2), self.logits


def _batch():
    task_ids = torch.tensor([0, 0, 1, 1])
    targets = np.array([[1, 0, 1, 0], [0, 1, 1, 1]])
    labels = torch.tensor([2, 0, *encode_multilabel(targets).tolist()])
    logits = torch.tensor(
        [
            [0.1, 0.2, 3.0, 0.0],  # argmax 2: right
            [0.1, 0.9, 0.3, 0.0],  # argmax 1: wrong
            [2.0, -1.0, -0.5, 0.4],  # > 0 at labels 0, 3: 2 of 4 right
            [-1.0, 1.0, 2.0, 0.5],
        ]
    )  # > 0 at labels 1, 2, 3: 4 of 4 right
    return logits, labels, task_ids


def test_training_accuracy_counts_a_multilabel_sample_as_its_share_of_right_labels():
    logits, labels, task_ids = _batch()
    objective = Objective(NUM_CLASSES, multilabel=MULTILABEL)
    loss, stats = objective(FixedLogits(logits), torch.zeros(4, 1), labels, task_ids)
    assert stats["correct"].item() == pytest.approx(1 + 0 + 2 / 4 + 4 / 4)
    torch.testing.assert_close(loss, task_loss(logits, labels, task_ids, NUM_CLASSES, MULTILABEL))


def test_distilled_objective_uses_binary_kl_for_the_multilabel_task():
    logits, labels, task_ids = _batch()
    teacher_logits = logits.flip(0)
    teacher = Teacher(FixedLogits(teacher_logits))
    objective = Objective(
        NUM_CLASSES, teacher=teacher, beta=0.5, temperature=2.0, multilabel=MULTILABEL
    )
    loss, stats = objective(FixedLogits(logits), torch.zeros(4, 1), labels, task_ids)
    kd = logit_distillation(logits, teacher_logits, task_ids, NUM_CLASSES, 2.0, MULTILABEL)
    torch.testing.assert_close(stats["kd"], kd)
    torch.testing.assert_close(loss, stats["ce"] + 0.5 * kd)


def test_objective_rejects_a_multilabel_list_of_the_wrong_length():
    with pytest.raises(ValueError, match="multilabel has 1 entries for 2 tasks"):
        Objective(NUM_CLASSES, multilabel=[True])
