"""The transfer command end to end on a tiny image-folder data set: both modes for every model
of a run, the JSON it writes, and one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lorkd_kernels import transfer
from tests.pipeline.data.layouts import image_folder

SPLITS = {"train": 4, "test": 2}  # images per class


def _images(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(count)]


def _write_task(root, task: str, classes: int, splits=SPLITS):
    return image_folder(
        root,
        task,
        {
            split: {f"c{k}": _images(count, k + 10 * classes) for k in range(classes)}
            for split, count in splits.items()
        },
    )


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    root = tmp_path_factory.mktemp("downstream") / "derm"
    _write_task(root, "lesions", 2)
    _write_task(root, "stains", 3)
    return root


FAST = ["--epochs", "1", "--batch-size", "4", "--quiet"]


def test_both_modes_for_every_model(tiny_run, downstream, capsys):
    assert transfer.main([str(tiny_run), "--data", "folder", "--root", str(downstream), *FAST]) == 0
    out = capsys.readouterr().out
    written = tiny_run / "transfer-derm.json"
    assert out.strip().endswith(f"outputs: {written.resolve()}")
    assert "| stains | expert-tissue |" in out and "linear ACC | linear AUC" in out
    summary = json.loads(written.read_text())
    assert summary["modes"] == ["linear", "finetune"] and summary["settings"]["epochs"] == 1
    results = summary["results"]
    assert list(results) == ["lesions", "stains"]
    for dataset, classes in (("lesions", 2), ("stains", 3)):
        assert set(results[dataset]) == {"expert-tissue", "expert-blood", "teacher"}
        for scores in results[dataset].values():
            for mode in ("linear", "finetune"):
                assert scores[mode]["samples"] == classes * SPLITS["test"]
                assert 0 <= scores[mode]["accuracy"] <= 1


def test_one_mode_one_task_and_a_name(tiny_run, downstream, capsys):
    assert (
        transfer.main(
            [
                str(tiny_run),
                "--root",
                str(downstream),
                "--tasks",
                "stains",
                "--mode",
                "linear",
                "--name",
                "probe",
                "--format",
                "json",
                *FAST,
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tiny_run / "transfer-probe.json").read_text())
    assert list(printed["results"]) == ["stains"]
    assert all(list(scores) == ["linear"] for scores in printed["results"]["stains"].values())


def test_a_baseline_runs_student_is_transferred(tiny_run, downstream, tmp_path, capsys):
    """An mtl run's experts share one student: it is transferred once, as "student"."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "method": "mtl"}))
    assert (
        transfer.main(
            [str(run), "--root", str(downstream), "--tasks", "lesions", "--mode", "finetune", *FAST]
        )
        == 0
    )
    results = json.loads((run / "transfer-derm.json").read_text())["results"]
    assert set(results["lesions"]) == {"student", "teacher"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["missing-run", "--root", "."], "missing-run is not a training run"),
        (["RUN", "--root", "no-such-folder"], "--root 'no-such-folder' is not a folder"),
        (["RUN", "--root", "DATA", "--epochs", "0"], "--epochs must be positive"),
        (["RUN", "--root", "DATA", "--name", "a/b"], "--name 'a/b': use letters"),
        (["RUN", "--root", "DATA", "--mode", "probe"], "argument --mode: invalid choice"),
    ],
)
def test_usage_errors_are_one_line(argv, message, tiny_run, downstream, capsys):
    argv = [str(tiny_run) if a == "RUN" else str(downstream) if a == "DATA" else a for a in argv]
    with pytest.raises(SystemExit) as stop:
        transfer.main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"lorkd_kernels.transfer: error: {message}")


def test_data_set_problems_are_one_line(tiny_run, tmp_path, capsys):
    root = tmp_path / "broken"
    _write_task(root, "lesions", 2, {"train": 4})  # no test split
    assert transfer.main([str(tiny_run), "--root", str(root), *FAST]) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("lorkd_kernels.transfer: error: no split directory") and err.count("\n") == 1
    )
    assert transfer.main([str(tiny_run), "--root", str(root), "--tasks", "nope", *FAST]) == 1
    assert "unknown image folder" in capsys.readouterr().err
    assert not list(tiny_run.glob("transfer-broken*"))
