"""The evaluation command: its own output file (the run's metrics.json untouched), data found
from the run folder even after it moved, its options, and one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest

from lorkd_kernels import evaluate, train
from lorkd_kernels.pipeline.cli.evaluate import build_parser
from tests.pipeline.training.tiny import TASKS, tiny_args


@pytest.fixture(scope="module")
def moved_run(tmp_path_factory):
    """A run on the built-in benchmark in its default place (DIR/synthetic), then moved."""
    first = tmp_path_factory.mktemp("first") / "run"
    args = tiny_args(first, first / "unused", "--tasks", *TASKS[:2], "--epochs", "1", "--quiet")
    del args[args.index("--root") : args.index("--root") + 2]
    assert train.main(args) == 0
    moved = tmp_path_factory.mktemp("moved") / "run"
    shutil.move(str(first), moved)
    shutil.rmtree(moved / "synthetic")  # evaluation regenerates it, inside the run
    return moved


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_evaluation_writes_its_own_file_inside_the_moved_run(moved_run, capsys):
    metrics = (moved_run / "metrics.json").read_bytes()
    old_place = moved_run.parent.parent / "first" / "run"
    assert evaluate.main([str(moved_run)]) == 0
    out = capsys.readouterr().out
    assert "| tissue |" in out and out.strip().endswith(
        f"outputs: {(moved_run / 'evaluation-test.json').resolve()}"
    )
    assert (moved_run / "metrics.json").read_bytes() == metrics  # untouched
    results = json.loads((moved_run / "evaluation-test.json").read_text())
    assert results["split"] == "test"
    assert results["tasks"] == json.loads(metrics)["tasks"]  # the same numbers
    assert (moved_run / "synthetic").is_dir() and not old_place.exists()


def test_split_out_and_format_options(moved_run, tmp_path, capsys):
    out = tmp_path / "val.md"
    assert (
        evaluate.main(
            [
                str(moved_run),
                "--split",
                "val",
                "--out",
                str(out),
                "--format",
                "json",
                "--device",
                "cpu",
                "--batch-size",
                "5",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "val"
    assert all(roles["expert"]["samples"] == 12 for roles in printed["tasks"].values())
    assert out.read_text().startswith("method: lorkd\n| task |")
    assert not (moved_run / "evaluation-val.json").exists()


def test_data_from_root(moved_run, tmp_path, capsys):
    if not (moved_run / "synthetic").is_dir():  # an evaluation inside the run generates it
        assert evaluate.main([str(moved_run), "--out", str(tmp_path / "first.json")]) == 0
    root = tmp_path / "data"
    shutil.copytree(moved_run / "synthetic", root)
    assert (
        evaluate.main([str(moved_run), "--root", str(root), "--out", str(tmp_path / "r.json")]) == 0
    )
    assert (
        json.loads((tmp_path / "r.json").read_text())["tasks"]
        == json.loads((moved_run / "metrics.json").read_text())["tasks"]
    )


def test_every_flag_has_help_and_the_device_default_is_trains():
    parser = build_parser()
    for action in parser._actions:
        if action.dest != "help":
            assert action.help, action.dest
    assert parser.get_default("device") == "auto"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "cuda:7"], "--device cuda:7"),
        (["--batch-size", "0"], "--batch-size must be positive"),
        (["--device", "nonsense"], "--device 'nonsense' is not a device"),
        (["--root", "/nonexistent/data"], "--root '/nonexistent/data' is not a folder"),
    ],
)
def test_usage_errors_are_one_line(argv, message, moved_run, capsys):
    status = None
    try:
        status = evaluate.main([str(moved_run), *argv])
    except SystemExit as stop:
        status = stop.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_corrupt_config_is_one_line_with_status_1(moved_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(moved_run, run, ignore=shutil.ignore_patterns("synthetic"))
    (run / "config.json").write_text("{not json")
    assert evaluate.main([str(run)]) == 1
    err = capsys.readouterr().err
    assert "config.json' is not valid JSON" in err and err.count("\n") == 1
    assert not (run / "synthetic").exists()


@pytest.mark.parametrize(
    "target",
    [
        "config.json",
        "teacher.pt",
        "student.pt",
        "metrics.json",
        "experts/tissue.safetensors",
        "experts",
        "transfer-derm.json",
        "synthetic/anything.json",
        ".",
    ],
)
def test_an_output_that_is_a_file_of_the_run_is_refused_before_anything(target, moved_run, capsys):
    before = {p: p.read_bytes() for p in moved_run.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as stop:
        evaluate.main([str(moved_run), "--out", str(moved_run / target)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "would replace" in err or "is a folder: give a file name" in err
    assert {p: p.read_bytes() for p in moved_run.rglob("*") if p.is_file()} == before


def test_its_own_earlier_results_may_be_replaced(moved_run, capsys):
    out = moved_run / "evaluation-val.md"
    assert evaluate.main([str(moved_run), "--split", "val", "--out", str(out)]) == 0
    assert out.read_text().startswith("method:")


def test_an_expert_file_of_another_task_is_refused_by_its_header(moved_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(moved_run, run, ignore=shutil.ignore_patterns("synthetic", "evaluation-*"))
    shutil.copy(
        run / "experts" / f"{TASKS[0]}.safetensors", run / "experts" / f"{TASKS[1]}.safetensors"
    )
    assert evaluate.main([str(run)]) == 1
    err = capsys.readouterr().err
    assert f"holds the expert of task {TASKS[0]!r}, not of {TASKS[1]!r}" in err
    assert err.count("\n") == 1 and not (run / "evaluation-test.json").exists()
