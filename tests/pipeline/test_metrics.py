"""Accuracy and AUC as MedMNIST defines them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lorkd_kernels.pipeline.metrics import classification_metrics


def test_binary_auc_scores_the_positive_class():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    p1 = np.clip(labels * 0.3 + rng.random(50) * 0.7, 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    result = classification_metrics(probs, labels)
    assert result["auc"] == pytest.approx(roc_auc_score(labels, p1))
    assert result["accuracy"] == pytest.approx(np.mean((p1 > 0.5) == labels))
    assert result["samples"] == 50


def test_multiclass_auc_is_the_macro_one_vs_rest_mean():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 80)
    logits = rng.normal(size=(80, 4)) + np.eye(4)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = np.mean([roc_auc_score(labels == c, probs[:, c]) for c in range(4)])
    assert classification_metrics(probs, labels)["auc"] == pytest.approx(expected)
    assert classification_metrics(probs, labels)["auc"] == pytest.approx(
        roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    )


def test_perfect_and_degenerate_cases():
    probs = np.eye(3)[[0, 1, 2, 1]]
    assert classification_metrics(probs, np.array([0, 1, 2, 1])) == {
        "accuracy": 1.0,
        "auc": 1.0,
        "samples": 4,
    }
    assert math.isnan(classification_metrics(np.eye(2)[[1, 1]], np.array([1, 1]))["auc"])


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match=r"\(N, classes\)"):
        classification_metrics(np.ones((3, 2)), np.zeros(4))


def test_non_finite_probabilities_give_nan_auc_not_a_crash():
    probs = np.array([[0.2, 0.8], [np.nan, np.nan], [0.9, 0.1]])
    result = classification_metrics(probs, np.array([1, 0, 0]))
    assert math.isnan(result["auc"]) and 0.0 <= result["accuracy"] <= 1.0


def test_multilabel_metrics_average_over_labels_and_skip_constant_ones():
    from lorkd_kernels.pipeline.metrics import multilabel_metrics

    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    probs = np.array([[0.9, 0.2, 0.1], [0.4, 0.7, 0.6], [0.8, 0.3, 0.2], [0.1, 0.1, 0.3]])
    result = multilabel_metrics(probs, labels)
    # label 0: all right; label 1: 3 of 4 (0.3 < 0.5 on a positive); label 2: 3 of 4
    assert result["accuracy"] == pytest.approx((1 + 0.75 + 0.75) / 3)
    # label 2 never occurs: no AUC for it
    assert result["auc"] == pytest.approx(
        np.mean([roc_auc_score(labels[:, j], probs[:, j]) for j in (0, 1)])
    )
    assert result["samples"] == 4
    probs[1, 1] = np.nan
    assert math.isnan(multilabel_metrics(probs, labels)["auc"])
    with pytest.raises(ValueError, match=r"both be \(N, labels\)"):
        multilabel_metrics(probs, labels[:, :2])
