"""The model cost command: the table a training run writes, the command on a saved run (with or
without that table), the mode without a run, the labelled GPU estimate, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from lorkd_kernels import costs, train
from lorkd_kernels.pipeline.data.tasks import MEDMNIST_TRAIN_SIZES
from tests.pipeline.training.tiny import TASKS, tiny_args


def _rows(table: dict) -> dict:
    return {row["model"]: row for row in table["rows"]}


def test_training_writes_the_table(tiny_run):
    written = json.loads((tiny_run / "costs.json").read_text())
    assert set(_rows(written)) == {
        "teacher",
        "student (training)",
        *(f"expert {t}" for t in TASKS[:2]),
    }
    setting = written["setting"]
    assert setting["image_size"] == 16 and setting["tasks"] == TASKS[:2]
    assert setting["samples_per_epoch"] == 2 * 48  # --synthetic-samples per task
    assert (tiny_run / "costs.md").read_text().startswith("model costs: lorkd")


def test_the_command_on_a_run_repeats_it_with_or_without_its_table(tiny_run, tmp_path, capsys):
    written = json.loads((tiny_run / "costs.json").read_text())
    assert costs.main([str(tiny_run)]) == 0
    assert "| expert tissue |" in capsys.readouterr().out
    assert json.loads((tiny_run / "costs.json").read_text()) == written
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    (copy / "costs.json").unlink()  # an older run: facts from its data
    assert costs.main([str(copy), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == written["rows"] and printed["setting"] == written["setting"]


def test_a_setting_without_a_run_with_the_gpu_estimate(tmp_path, capsys):
    tasks = ["breastmnist", "pneumoniamnist"]
    out = tmp_path / "official.json"
    assert (
        costs.main(
            [
                "--data",
                "medmnist",
                "--tasks",
                *tasks,
                "--image-size",
                "16",
                "--student-arch",
                "shufflenet_v2_x0_5",
                "--teacher-arch",
                "resnet18",
                "--experts-on",
                "dense",
                "--gpu-estimate",
                "--peak-tflops",
                "100",
                "--utilisation",
                "0.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "| expert pneumoniamnist |" in printed
    assert "ESTIMATE: achieved throughput = 0.5 × 100 TFLOP/s" in printed
    result = json.loads(out.read_text())
    samples = sum(MEDMNIST_TRAIN_SIZES[t] for t in tasks)
    estimate = result["gpu_estimate"]
    assert estimate["samples_per_epoch"] == samples
    student = result["stage_flops_per_sample"]["student"]
    assert estimate["stages"]["student"]["seconds_per_epoch"] == pytest.approx(
        samples * student / 50e12
    )
    assert result["setting"]["experts_on"] == "dense"


def test_no_estimate_unless_asked(capsys):
    assert (
        costs.main(
            [
                "--image-size",
                "16",
                "--tasks",
                "tissue",
                "--student-arch",
                "shufflenet_v2_x0_5",
                "--teacher-arch",
                "resnet18",
            ]
        )
        == 0
    )
    assert "ESTIMATE" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing-run"], "missing-run is not a training run"),
        (["--tasks", "tissue"], "--image-size is required without DIR"),
        (["--image-size", "0"], "--image-size must be positive"),
        (["--image-size", "16", "--utilisation", "2"], "--utilisation must be in (0, 1]"),
        (
            ["--image-size", "16", "--samples-per-epoch", "9"],
            "--samples-per-epoch only applies with --gpu-estimate",
        ),
    ],
)
def test_usage_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        costs.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"lorkd_kernels.costs: error: {message}")


def test_a_runs_setting_is_its_own(tiny_run, capsys):
    with pytest.raises(SystemExit) as stop:
        costs.main([str(tiny_run), "--rank", "8"])
    assert stop.value.code == 2
    assert "--rank: a run's setting comes from DIR/config.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--image-size", "16", "--tasks", "nope"],
            "unknown task(s) ['nope'] for --data synthetic",
        ),
        (["--image-size", "16", "--gpu-estimate"], "--gpu-estimate: pass --samples-per-epoch"),
    ],
)
def test_settings_that_cannot_work_are_one_line(argv, message, capsys):
    assert costs.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lorkd_kernels.costs: error: {message}") and err.count("\n") == 1


def test_a_given_teacher_must_be_the_runs_architecture_and_is_counted_as_it(
    tiny_run, data_root, tmp_path, capsys
):
    """A --teacher-ckpt of another architecture than --teacher-arch stops the run before any
    write; one that matches is counted as its file's architecture."""
    refused = tmp_path / "refused"
    assert (
        train.main(
            tiny_args(
                refused,
                data_root,
                "--tasks",
                *TASKS[:2],
                "--epochs",
                "1",
                "--teacher-ckpt",
                str(tiny_run / "teacher.pt"),
                "--teacher-arch",
                "resnet34",
                "--quiet",
            )
        )
        == 1
    )
    err = capsys.readouterr().err
    assert (
        "is a resnet18, but the run's teacher architecture is resnet34: pass "
        "--teacher-arch resnet18"
        in err
        and err.count("\n") == 1
    )
    assert not refused.exists()
    run = tmp_path / "run"
    assert (
        train.main(
            tiny_args(
                run,
                data_root,
                "--tasks",
                *TASKS[:2],
                "--epochs",
                "1",
                "--teacher-ckpt",
                str(tiny_run / "teacher.pt"),
                "--quiet",
            )
        )
        == 0
    )
    written = json.loads((run / "costs.json").read_text())
    assert written["setting"]["teacher_arch"] == "resnet18"
    assert (
        _rows(written)["teacher"]
        == _rows(json.loads((tiny_run / "costs.json").read_text()))["teacher"]
    )
    (run / "costs.json").unlink()
    capsys.readouterr()  # the training command's output
    assert costs.main([str(run), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["setting"]["teacher_arch"] == "resnet18"


@pytest.mark.parametrize("target", ["teacher.pt", "config.json", "experts/tissue.safetensors"])
def test_an_output_that_is_a_file_of_the_run_is_refused(target, tiny_run, capsys):
    before = (tiny_run / target).read_bytes()
    with pytest.raises(SystemExit) as stop:
        costs.main([str(tiny_run), "--out", str(tiny_run / target)])
    assert stop.value.code == 2
    assert f"would replace '{target.split('/')[0]}'" in capsys.readouterr().err
    assert (tiny_run / target).read_bytes() == before
