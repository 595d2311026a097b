"""MedMNIST's classification metrics: accuracy and AUC (macro one-vs-rest for multi-class, the
mean over labels for multi-label tasks), as the ``medmnist`` package's ``getACC`` / ``getAUC``
compute them (``tests/pipeline/test_metrics_medmnist.py`` checks both against it)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return math.nan
    return float((probabilities.argmax(axis=1) == labels).mean())


def auc(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Binary: ROC AUC of the positive class. Multi-class: the mean over classes of the
    one-vs-rest ROC AUC, over classes that occur and don't fill the whole split (NaN if none, or
    if any probability is not finite)."""
    if not np.isfinite(probabilities).all():
        return math.nan  # a diverged model: no ranking to score
    num_classes = probabilities.shape[1]
    classes: Sequence[int]
    if num_classes == 2:
        classes = [1]
    else:
        classes = range(num_classes)
    scores = []
    for c in classes:
        positives = labels == c
        if positives.any() and not positives.all():
            scores.append(roc_auc_score(positives, probabilities[:, c]))
    return float(np.mean(scores)) if scores else math.nan


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """``{"accuracy", "auc", "samples"}`` for one task's predicted class probabilities."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(
            f"probabilities must be (N, classes) for N={labels.shape[0]} labels, "
            f"got {probabilities.shape}"
        )
    return {
        "accuracy": accuracy(probabilities, labels),
        "auc": auc(probabilities, labels),
        "samples": int(labels.shape[0]),
    }


#: the probability above which a multi-label task's label counts as predicted (MedMNIST's)
MULTILABEL_THRESHOLD = 0.5


def multilabel_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """``{"accuracy", "auc", "samples"}`` for a multi-label task (one yes/no per label, e.g.
    ChestMNIST): per-label accuracy at probability 0.5 and per-label ROC AUC, each averaged over
    the labels (AUC over labels that are neither all 0 nor all 1; NaN if none)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != probabilities.shape:
        raise ValueError(
            f"multi-label probabilities and labels must both be (N, labels), got "
            f"{probabilities.shape} and {labels.shape}"
        )
    if len(labels) == 0:
        return {"accuracy": math.nan, "auc": math.nan, "samples": 0}
    predicted = probabilities > MULTILABEL_THRESHOLD
    accuracy_ = float((predicted == labels.astype(bool)).mean(axis=0).mean())
    if not np.isfinite(probabilities).all():
        return {"accuracy": accuracy_, "auc": math.nan, "samples": int(labels.shape[0])}
    scores = [
        roc_auc_score(labels[:, j], probabilities[:, j])
        for j in range(labels.shape[1])
        if 0 < labels[:, j].sum() < len(labels)
    ]
    auc_ = float(np.mean(scores)) if scores else math.nan
    return {"accuracy": accuracy_, "auc": auc_, "samples": int(labels.shape[0])}
