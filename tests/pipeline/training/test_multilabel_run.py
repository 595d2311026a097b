"""End to end with a multi-label task: LoRKD and a distilled baseline train on a single-label
and a multi-label task, and metrics.json holds MedMNIST's multi-label metrics for the latter
(recomputed here from the saved expert), as does a re-evaluation with the evaluate command."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from lorkd_kernels import evaluate, train
from lorkd_kernels.pipeline.data.labels import decode_multilabel
from lorkd_kernels.pipeline.metrics import classification_metrics, multilabel_metrics
from lorkd_kernels.pipeline.comparison import runner
from lorkd_kernels.pipeline.training import artifacts, run, splits
from tests.pipeline.multilabel_data import NUM_CLASSES, TASK_NAMES, tiny_multilabel_tasks
from tests.pipeline.training.tiny import TINY_TRAINING

# Three training runs: the slow tier (CI step 'slow'). The default tier trains ChestMNIST next to a
# single-label task end to end in test_data_sources.py, and checks the losses and metrics in
# tests/pipeline/test_losses.py and test_evaluation.py.
pytestmark = pytest.mark.slow

DATA = {"train": tiny_multilabel_tasks(48, seed=0), "test": tiny_multilabel_tasks(24, seed=7)}
DATA["val"] = DATA["test"]


def _args(out, *extra):
    return ["--out", str(out), *TINY_TRAINING, "--synthetic-samples", "48", *extra]


@pytest.fixture(scope="module")
def data_source():
    """Runs read the in-memory tasks above instead of a data source."""
    with pytest.MonkeyPatch.context() as patch:
        load = lambda config, split: DATA[split]  # noqa: E731
        patch.setattr(run, "load_split", load)
        patch.setattr(splits, "load_split", load)
        patch.setattr(runner, "load_split", load)
        yield


@pytest.fixture(scope="module")
def lorkd_run(tmp_path_factory, data_source):
    out = tmp_path_factory.mktemp("lorkd_multilabel")
    assert train.main(_args(out, "--kd-on", "both")) == 0
    return out


def _expected_metrics(run_dir, task: int) -> dict:
    """The metrics of the saved expert of ``task``, computed here from its logits."""
    name, classes = TASK_NAMES[task], NUM_CLASSES[task]
    expert = artifacts.load_expert(run_dir, name, "shufflenet_v2_x0_5", classes).eval()
    dataset = DATA["test"].datasets[task]
    images = torch.stack([image for image, _, _ in dataset])
    with torch.no_grad():
        logits = expert(images).float()[:, :classes]
    if DATA["test"].multilabel[task]:
        return multilabel_metrics(
            torch.sigmoid(logits).numpy(), decode_multilabel(dataset.labels, classes).numpy()
        )
    return classification_metrics(torch.softmax(logits, 1).numpy(), dataset.labels.numpy())


def _check(run_dir, method):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["method"] == method and sorted(metrics["tasks"]) == sorted(TASK_NAMES)
    assert metrics["multilabel_tasks"] == ["chest"]
    for task, name in enumerate(TASK_NAMES):
        got, expected = metrics["tasks"][name]["expert"], _expected_metrics(run_dir, task)
        assert got["samples"] == expected["samples"] == 24
        for key in ("accuracy", "auc"):
            assert got[key] == pytest.approx(expected[key], abs=1e-6), (method, name, key)
        assert 0 <= metrics["tasks"][name]["teacher"]["auc"] <= 1
    with (run_dir / "epochs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(
        0 <= float(r["train_acc"]) <= 1 and math.isfinite(float(r["loss"])) for r in rows
    )
    return metrics


def test_lorkd_run_reports_multilabel_metrics_for_the_multilabel_task(lorkd_run):
    _check(lorkd_run, "lorkd")


def test_evaluate_command_recomputes_them(lorkd_run, data_source, capsys):
    assert evaluate.main([str(lorkd_run)]) == 0
    again = json.loads((lorkd_run / "evaluation-test.json").read_text())
    assert again["tasks"] == json.loads((lorkd_run / "metrics.json").read_text())["tasks"]
    table = capsys.readouterr().out
    assert "| chest (multi-label) | 24 |" in table and "| organ | 24 |" in table
    assert "multi-label tasks: accuracy is the mean over labels" in table


def test_comparison_chooses_learning_rates_on_multilabel_metrics(lorkd_run, data_source):
    """The comparison's validation metrics (what it picks learning rates on)."""
    val = runner._val_metrics(lorkd_run)
    for task, name in enumerate(TASK_NAMES):
        for key in ("accuracy", "auc"):
            assert val[name][key] == pytest.approx(
                _expected_metrics(lorkd_run, task)[key], abs=1e-6
            ), (name, key)


def test_single_task_distilled_baseline_trains_the_multilabel_task(
    lorkd_run, data_source, tmp_path
):
    assert (
        train.main(
            _args(
                tmp_path,
                "--method",
                "stl-kd",
                "--epochs",
                "1",
                "--teacher-ckpt",
                str(lorkd_run / "teacher.pt"),
            )
        )
        == 0
    )
    _check(tmp_path, "stl-kd")
