"""A run killed with SIGKILL at an exact point (``tests/pipeline/training/faults.py``), then
resumed with ``--resume``, ends exactly as the uninterrupted run: the same weights bit for bit,
the same metrics and epoch log (wall times aside). A checkpoint truncated on disk is reported by
name and the previous one is used; when neither is usable the run stops naming both files."""

from __future__ import annotations

import csv
import json
import shutil
import signal
from pathlib import Path

import pytest
import torch

from lorkd_kernels.deploy.weights_file import read_weights

from tests.pipeline.training.tiny import run_cli, tiny_args

# Three tasks × 48 images, batch 24: 6 steps per epoch. The checkpoints are written in this
# order: teacher epoch 1, teacher epoch 2, teacher.pt, student epoch 1, student epoch 2,
# student.pt, then one expert per task.
SETTINGS = (
    "--teacher-arch",
    "shufflenet_v2_x0_5",
    "--teacher-epochs",
    "2",
    "--epochs",
    "2",
    "--progress",
    "off",
)

# One run, killed four times and resumed after each kill; a fault counts the visits
# of its point within one process. What each kill must leave on disk is checked before resuming.
KILLS = [
    # teacher epoch 2, step 3: its epoch-1 checkpoint is the latest
    ("step:9", lambda ckpt: ckpt("teacher")["epoch"] == 1 and not ckpt("student")),
    # the resumed teacher finishes epoch 2 and dies before the student starts
    ("stage-end:1", lambda ckpt: ckpt("teacher")["epoch"] == 2 and not ckpt("student")),
    # writes teacher.pt, the student's epoch-1 checkpoint, then dies half-way through epoch 2's
    ("checkpoint-write:3", lambda ckpt: ckpt("student")["epoch"] == 1 and ckpt(".student")),
    # the student resumes from epoch 1 and dies at step 3 of epoch 2
    ("step:3", lambda ckpt: ckpt("student")["epoch"] == 1),
]


def _train(out: Path, *args: str, fault: str = ""):
    """The public command in a fresh process, from a neutral working directory."""
    return run_cli(args, cwd=out.parent, fault=fault)


def _args(out: Path, data_root: Path, *extra: str):
    return tiny_args(out, data_root, *SETTINGS, *extra)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    result = _train(out, *_args(out, data_root))
    assert result.returncode == 0, result.stderr
    return out


def _state_dict(path: Path) -> dict:
    if path.suffix == ".safetensors":  # the deployed experts
        return read_weights(path)[0]
    return torch.load(path, weights_only=True)["state_dict"]


def _epoch_rows(run: Path):
    with (run / "epochs.csv").open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def _metrics(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("wall_seconds")
    return metrics


def assert_same_run(run: Path, reference: Path) -> None:
    models = [
        "teacher.pt",
        "student.pt",
        *(f"experts/{p.name}" for p in sorted((reference / "experts").iterdir())),
    ]
    for name in models:
        ours, theirs = _state_dict(run / name), _state_dict(reference / name)
        assert ours.keys() == theirs.keys(), name
        for key in theirs:
            assert torch.equal(ours[key], theirs[key]), f"{name}: {key} differs"
    assert _metrics(run) == _metrics(reference)
    assert _epoch_rows(run) == _epoch_rows(reference)
    assert not list((run / "checkpoints").glob(".*.tmp"))  # no half-written leftovers


def _on_disk(out: Path):
    """``ckpt(stage)``: that stage's latest checkpoint (None if absent); ``ckpt(".stage")``: the
    temporary files of a checkpoint write that never finished."""

    def ckpt(name: str):
        if name.startswith("."):
            return list((out / "checkpoints").glob(f"{name}.pt.*.tmp"))
        path = out / "checkpoints" / f"{name}.pt"
        return torch.load(path, weights_only=True) if path.exists() else None

    return ckpt


# a run per fault point: the slow tier (the truncated and missing checkpoint tests stay in the
# default one)
@pytest.mark.slow
def test_a_run_killed_at_every_fault_point_resumes_to_the_uninterrupted_result(
    uninterrupted, data_root, tmp_path
):
    out = tmp_path / "run"
    for number, (fault, left_on_disk) in enumerate(KILLS):
        resume = ("--resume",) if number else ()
        killed = _train(out, *_args(out, data_root, *resume), fault=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr)
        assert left_on_disk(_on_disk(out)), fault
        assert not (out / "metrics.json").exists()
    resumed = _train(out, *_args(out, data_root, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "[student] resuming at epoch 2, step 0" in resumed.stdout
    assert_same_run(out, uninterrupted)


def _finished_run_with_truncated(files, uninterrupted: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    for name in files:
        path = out / "checkpoints" / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return out


def test_a_truncated_checkpoint_is_named_and_the_previous_one_used(
    uninterrupted, data_root, tmp_path
):
    out = _finished_run_with_truncated(["student.pt"], uninterrupted, tmp_path)
    resumed = _train(out, *_args(out, data_root, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    latest, previous = out / "checkpoints" / "student.pt", out / "checkpoints" / "student.prev.pt"
    warnings = [line for line in resumed.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, resumed.stderr
    assert f"checkpoint {latest} is corrupt" in warnings[0]
    assert f"using the previous checkpoint {previous}" in warnings[0]
    assert "[student] resuming at epoch 2" in resumed.stdout  # epoch 2 trained again
    assert_same_run(out, uninterrupted)


def test_no_usable_checkpoint_stops_the_resume_naming_the_files(uninterrupted, data_root, tmp_path):
    out = _finished_run_with_truncated(["student.pt", "student.prev.pt"], uninterrupted, tmp_path)
    resumed = _train(out, *_args(out, data_root, "--resume"))
    assert resumed.returncode == 1
    error = resumed.stderr.strip().splitlines()[-1]
    latest, previous = out / "checkpoints" / "student.pt", out / "checkpoints" / "student.prev.pt"
    assert error.startswith(f"lorkd_kernels.train: error: checkpoint {latest} is corrupt")
    assert f"the previous one is unusable too: checkpoint {previous} is corrupt" in error
    assert "Traceback" not in resumed.stderr
