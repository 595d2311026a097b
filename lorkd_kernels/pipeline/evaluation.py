"""Evaluation of experts and teacher: class probabilities on every test sample, then metrics."""

from __future__ import annotations

import warnings
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .metrics import classification_metrics

Predict = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def predict_probabilities(predict: Predict, dataset: Dataset, num_classes: int,
                          batch_size: int = 256, device: torch.device = torch.device("cpu")):
    """Class probabilities and labels for every sample of ``dataset`` (no sample dropped)."""
    probabilities, labels = [], []
    for images, batch_labels, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                              drop_last=False):
        logits = predict(images.to(device)).float()[:, :num_classes]
        probabilities.append(torch.softmax(logits, dim=1).cpu())
        labels.append(batch_labels)
    return torch.cat(probabilities).numpy(), torch.cat(labels).numpy()


def evaluate_task(predict: Predict, dataset: Dataset, num_classes: int, batch_size: int,
                  device: torch.device) -> Dict[str, float]:
    probs, labels = predict_probabilities(predict, dataset, num_classes, batch_size, device)
    if not np.isfinite(probs).all():
        warnings.warn(f"{getattr(dataset, 'name', 'a task')}: the model's outputs are not all "
                      f"finite; its AUC is reported as NaN", RuntimeWarning, stacklevel=2)
    return classification_metrics(probs, labels)


def evaluate_run(experts: Sequence[nn.Module], teacher: Optional[nn.Module], test_set,
                 batch_size: int = 256, device: torch.device = torch.device("cpu")) -> Dict:
    """``{task: {"expert": metrics, "teacher": metrics}}`` on the full test split."""
    results: Dict[str, Dict] = {}
    for task, name in enumerate(test_set.task_names):
        subset = test_set.datasets[task]
        classes = test_set.num_classes[task]
        expert = experts[task].to(device).eval()
        results[name] = {"expert": evaluate_task(expert, subset, classes, batch_size, device)}
        if teacher is not None:
            teacher.to(device).eval()
            results[name]["teacher"] = evaluate_task(
                lambda x, t=task: teacher(x, t), subset, classes, batch_size, device)
    return results
