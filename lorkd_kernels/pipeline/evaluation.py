"""Evaluation of experts and teacher: class probabilities on every test sample (softmax over a
single-label task's classes, a sigmoid per label of a multi-label task), then metrics."""

from __future__ import annotations

import warnings
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.labels import decode_multilabel
from .label_kinds import multilabel_flags
from .metrics import classification_metrics, multilabel_metrics

Predict = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict_probabilities(
    predict: Predict,
    dataset: Dataset,
    num_classes: int,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    multilabel: bool = False,
):
    """Probabilities and labels for every sample of ``dataset`` (no sample dropped): softmax
    over the classes and class indices ``(N,)``, or for a multi-label task a sigmoid per label
    and the labels as 0/1 ``(N, num_classes)``."""
    probabilities, labels = [], []
    for images, batch_labels, _ in DataLoader(
        dataset, batch_size=batch_size, shuffle=False, drop_last=False
    ):
        logits = predict(images.to(device)).float()[:, :num_classes]
        if multilabel:
            probabilities.append(torch.sigmoid(logits).cpu())
            labels.append(decode_multilabel(batch_labels, num_classes))
        else:
            probabilities.append(torch.softmax(logits, dim=1).cpu())
            labels.append(batch_labels)
    return torch.cat(probabilities).numpy(), torch.cat(labels).numpy()


def evaluate_task(
    predict: Predict,
    dataset: Dataset,
    num_classes: int,
    batch_size: int,
    device: torch.device,
    multilabel: bool = False,
) -> Dict[str, float]:
    probs, labels = predict_probabilities(
        predict, dataset, num_classes, batch_size, device, multilabel
    )
    if not np.isfinite(probs).all():
        warnings.warn(
            f"{getattr(dataset, 'name', 'a task')}: the model's outputs are not all "
            f"finite; its AUC is reported as NaN",
            RuntimeWarning,
            stacklevel=2,
        )
    if multilabel:
        return multilabel_metrics(probs, labels)
    return classification_metrics(probs, labels)


def _for_task(model: nn.Module, task: int) -> Predict:
    """``model`` on a batch of task ``task``'s images (its task bound now, not when called)."""
    return lambda x: model(x, task)


def evaluate_run(
    experts: Sequence[nn.Module],
    teacher: Optional[nn.Module],
    test_set,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> Dict:
    """``{task: {"expert": metrics, "teacher": metrics}}`` on the full test split; a
    multi-label task's metrics are ``multilabel_metrics`` (MedMNIST's, as for ChestMNIST)."""
    results: Dict[str, Dict] = {}
    flags = multilabel_flags(test_set)
    for task, name in enumerate(test_set.task_names):
        subset = test_set.datasets[task]
        classes = test_set.num_classes[task]
        expert = experts[task].to(device).eval()
        results[name] = {
            "expert": evaluate_task(expert, subset, classes, batch_size, device, flags[task])
        }
        if teacher is not None:
            teacher.to(device).eval()
            results[name]["teacher"] = evaluate_task(
                _for_task(teacher, task), subset, classes, batch_size, device, flags[task]
            )
    return results
