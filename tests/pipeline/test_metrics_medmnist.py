"""The metrics against the medmnist package itself: its evaluator's getACC / getAUC on random
data for binary, multi-class and multi-label tasks, and its INFO table for the task list.

medmnist is optional at run time and installed without its dependencies (requirements-dev.txt
says why): ``pip install --no-deps medmnist``. Without it these tests skip, unless
``--require medmnist`` (the CI step that installs it) makes that a failure.
"""

from __future__ import annotations

import numpy as np
import pytest

from lorkd_kernels.pipeline.data.tasks import (
    MEDMNIST_2D_TASKS,
    MEDMNIST_3D_TASKS,
    MEDMNIST_SIZES,
    MEDMNIST_TASKS,
    MEDMNIST_TRAIN_SIZES,
    MULTILABEL_TASKS,
)
from lorkd_kernels.pipeline.metrics import classification_metrics, multilabel_metrics
from tests import requirements

try:
    import medmnist
    from medmnist.evaluator import getACC, getAUC
except ImportError as err:
    requirements.unavailable(
        "medmnist", f"medmnist is not installed ({err}); pip install --no-deps medmnist pandas"
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    "num_classes, task",
    [(2, "binary-class"), (4, "multi-class"), (11, "multi-class"), (5, "ordinal-regression")],
)
def test_single_label_metrics_match_medmnist(num_classes, task, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, 300)
    labels[:num_classes] = np.arange(num_classes)  # every class occurs, as medmnist needs
    probs = _softmax(rng.normal(size=(300, num_classes)) + 1.5 * np.eye(num_classes)[labels])
    ours = classification_metrics(probs, labels)
    # medmnist's label arrays are (N, 1)
    assert ours["accuracy"] == pytest.approx(getACC(labels[:, None], probs, task), abs=1e-12)
    assert ours["auc"] == pytest.approx(getAUC(labels[:, None], probs, task), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_multilabel_metrics_match_medmnist(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random((300, 14)) < 0.3).astype(np.int64)  # ChestMNIST's 14 findings
    probs = 1 / (1 + np.exp(-(rng.normal(size=(300, 14)) + 1.2 * (2 * labels - 1))))
    ours = multilabel_metrics(probs, labels)
    task = "multi-label, binary-class"
    assert ours["accuracy"] == pytest.approx(getACC(labels, probs, task), abs=1e-12)
    assert ours["auc"] == pytest.approx(getAUC(labels, probs, task), abs=1e-12)


def test_the_task_list_agrees_with_medmnist_info():
    info = medmnist.INFO
    for task, num_classes in MEDMNIST_2D_TASKS.items():
        assert task in info, task
        assert len(info[task]["label"]) == num_classes, task
        kind = (
            "multi-label, binary-class"
            if task in MULTILABEL_TASKS
            else "ordinal-regression"
            if task == "retinamnist"
            else "binary-class"
            if num_classes == 2
            else "multi-class"
        )
        assert info[task]["task"] == kind, task
        assert info[task]["n_samples"]["train"] == MEDMNIST_TRAIN_SIZES[task], task
        # the file names the reader expects are the ones medmnist publishes
        assert info[task]["url"].split("?")[0].endswith(f"/{task}.npz")
        for size in MEDMNIST_SIZES[1:]:
            assert info[task][f"url_{size}"].split("?")[0].endswith(f"/{task}_{size}.npz")
    # every 2D set is readable, every 3D set is refused by name
    assert {name for name in info if not name.endswith("3d")} == set(MEDMNIST_2D_TASKS)
    assert {name for name in info if name.endswith("3d")} == set(MEDMNIST_3D_TASKS)
    # the paper's ten are the single-label sets
    assert set(MEDMNIST_TASKS) == set(MEDMNIST_2D_TASKS) - {"chestmnist", "retinamnist"}
