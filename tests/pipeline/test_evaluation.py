"""Evaluation of a multi-label task: sigmoid probabilities and MedMNIST's multi-label metrics."""

from __future__ import annotations

import numpy as np
import torch

from lorkd_kernels.pipeline.data.labels import decode_multilabel
from lorkd_kernels.pipeline.evaluation import evaluate_run
from lorkd_kernels.pipeline.metrics import classification_metrics, multilabel_metrics
from tests.pipeline.multilabel_data import NUM_CLASSES, TASK_NAMES, tiny_multilabel_tasks


class MeanColours(torch.nn.Module):
    """A fixed 'expert': logits from the image's per-channel means (one more padding column
    than the task's classes, which evaluation must slice off)."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.weight = torch.randn(classes + 1, 3, generator=torch.Generator().manual_seed(0))

    def forward(self, images: torch.Tensor, task=None) -> torch.Tensor:
        return images.mean(dim=(2, 3)) @ self.weight.t() * 4


def test_a_multilabel_task_gets_sigmoid_probabilities_and_multilabel_metrics():
    data = tiny_multilabel_tasks()
    experts = [MeanColours(c) for c in NUM_CLASSES]
    results = evaluate_run(experts, None, data, batch_size=5)
    for task, name in enumerate(TASK_NAMES):
        images = torch.stack([image for image, _, _ in data.datasets[task]])
        logits = experts[task](images)[:, : NUM_CLASSES[task]]
        labels = data.datasets[task].labels
        if data.multilabel[task]:
            expected = multilabel_metrics(
                torch.sigmoid(logits).numpy(), decode_multilabel(labels, NUM_CLASSES[task]).numpy()
            )
        else:
            expected = classification_metrics(torch.softmax(logits, 1).numpy(), labels.numpy())
        assert results[name]["expert"].keys() == expected.keys()
        for key, value in expected.items():
            assert np.isclose(results[name]["expert"][key], value, rtol=1e-6), (name, key)
