"""End-to-end runs of every method at tiny size, and re-evaluation of a saved run."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lorkd_kernels import evaluate, train
from lorkd_kernels.pipeline.data import SYNTHETIC_TASKS
from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.deploy.weights_file import read_weights
from tests.pipeline.training.tiny import TASKS, tiny_args


@pytest.fixture(scope="module")
def lorkd_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("lorkd")
    assert train.main(tiny_args(out, data_root, "--kd-on", "both")) == 0
    return out


def _check_metrics(out, method):
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method
    assert sorted(metrics["tasks"]) == sorted(TASKS)
    for task, roles in metrics["tasks"].items():
        for role in ("expert", "teacher"):
            m = roles[role]
            assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 <= m["auc"] <= 1.0, (task, role, m)
            assert m["samples"] == 24  # the whole test split: 48 // 2, none dropped
    return metrics


def test_lorkd_run_writes_experts_teacher_metrics_and_logs(lorkd_run):
    _check_metrics(lorkd_run, "lorkd")
    for name in ("teacher.pt", "student.pt", "epochs.csv", "metrics.csv", "config.json"):
        assert (lorkd_run / name).is_file(), name
    rows = (lorkd_run / "epochs.csv").read_text().splitlines()
    assert rows[0].startswith("stage,epoch,loss")
    assert len(rows) == 1 + 1 + 2  # header, teacher epoch, 2 student epochs
    assert all(math.isfinite(float(r.split(",")[2])) for r in rows[1:])


def test_experts_are_plain_models_of_the_student_architecture(lorkd_run):
    for task in TASKS:
        classes = SYNTHETIC_TASKS[task]
        state, header = read_weights(lorkd_run / "experts" / f"{task}.safetensors")
        assert header["arch"] == "shufflenet_v2_x0_5" and header["num_classes"] == str(classes)
        plain = build_model("shufflenet_v2_x0_5", classes)
        plain.load_state_dict(state, strict=True)
        assert not any("lora" in key for key in state)


def test_evaluate_reproduces_the_saved_metrics(lorkd_run, capsys):
    saved = (lorkd_run / "metrics.json").read_text()
    assert evaluate.main([str(lorkd_run)]) == 0
    again = json.loads((lorkd_run / "evaluation-test.json").read_text())
    assert again["tasks"] == json.loads(saved)["tasks"]
    assert (lorkd_run / "metrics.json").read_text() == saved  # the run's own, untouched
    assert "| tissue |" in capsys.readouterr().out


def test_evaluate_names_what_is_missing(lorkd_run, tmp_path, capsys):
    with pytest.raises(SystemExit):  # not a run folder at all
        evaluate.main([str(tmp_path)])
    assert "config.json is missing" in capsys.readouterr().err
    (tmp_path / "config.json").write_text((lorkd_run / "config.json").read_text())
    assert evaluate.main([str(tmp_path)]) == 1
    assert "no expert for task" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["stl", "mtl", "stl-kd", "mtl-kd"])
def test_every_baseline_runs_on_the_same_teacher(method, lorkd_run, data_root, tmp_path):
    args = tiny_args(
        tmp_path,
        data_root,
        "--method",
        method,
        "--teacher-ckpt",
        str(lorkd_run / "teacher.pt"),
        "--epochs",
        "1",
    )
    assert train.main(args) == 0
    metrics = _check_metrics(tmp_path, method)
    assert evaluate.main([str(tmp_path)]) == 0  # finds the teacher it was given
    teacher = json.loads((lorkd_run / "metrics.json").read_text())
    for task in TASKS:  # the same teacher file, so the same teacher metrics
        assert metrics["tasks"][task]["teacher"] == teacher["tasks"][task]["teacher"]
    stages = {r.split(",")[0] for r in (tmp_path / "epochs.csv").read_text().splitlines()[1:]}
    expected = {f"student-{t}" for t in TASKS} if method.startswith("stl") else {"student"}
    assert stages == expected


def test_teacher_of_other_tasks_is_refused(lorkd_run, data_root, tmp_path, capsys):
    args = tiny_args(tmp_path, data_root, "--teacher-ckpt", str(lorkd_run / "teacher.pt"))
    args[args.index("--tasks") + 1 : args.index("--tasks") + 4] = ["tissue", "organ"]
    assert train.main(args) == 1
    assert (
        "has no head for task(s) ['organ']: it was trained on ['tissue', 'blood', "
        "'chest']" in capsys.readouterr().err
    )


def test_a_teachers_heads_are_matched_to_the_runs_tasks_by_name(lorkd_run):
    from lorkd_kernels.pipeline.training import artifacts

    path = lorkd_run / "teacher.pt"
    saved = artifacts.load_teacher(path, None)  # tissue, blood, chest
    mapped = artifacts.load_teacher(path, None, tasks=["chest", "tissue"])
    assert mapped.fc.num_classes == [saved.fc.num_classes[2], saved.fc.num_classes[0]]
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        for run_task, saved_task in ((0, 2), (1, 0)):
            want = saved(images, torch.full((4,), saved_task))
            got = mapped(images, torch.full((4,), run_task))
            width = saved.fc.num_classes[saved_task]
            torch.testing.assert_close(got[:, :width], want[:, :width])
