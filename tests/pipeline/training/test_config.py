"""The command line: every flag documented, and bad settings refused with a clear message."""

from __future__ import annotations

import pytest

from lorkd_kernels.pipeline.training import (
    METHODS,
    TrainConfig,
    build_parser,
    config,
    parse_args,
    run_folder,
)


def test_help_documents_every_flag():
    text = build_parser().format_help()
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"
    for method in METHODS:
        assert method in text


def test_defaults_are_the_papers():
    config = parse_args([])
    assert (config.method, config.data, config.rank, config.alpha) == (
        "lorkd",
        "synthetic",
        4,
        16.0,
    )
    assert (config.temperature, config.momentum, config.weight_decay) == (10.0, 0.9, 1e-4)
    assert config.beta > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tasks", "tissue", "brain"], "unknown task(s) ['brain']"),
        (["--tasks", "tissue", "tissue"], "lists a task twice"),
        (["--data", "medmnist"], "--data medmnist needs --root"),
        (["--data", "folder"], "--data folder needs --root"),
        (["--data", "radimagenet"], "--data radimagenet needs --root"),
        (
            ["--train-list", "x.txt"],
            "--train-list/--test-list apply to --data radimagenet, not synthetic",
        ),
        (
            ["--data", "radimagenet", "--root", ".", "--test-list", "/nonexistent/rad_test.txt"],
            "--test-list '/nonexistent/rad_test.txt' does not exist",
        ),
        (
            ["--data", "radimagenet", "--root", ".", "--tasks", "ct_chest"],
            "unknown task(s) ['ct_chest'] for --data radimagenet",
        ),
        (["--data", "medmnist", "--root", "/nonexistent/medmnist"], "is not a folder"),
        (["--teacher-ckpt", "/nonexistent/teacher.pt"], "does not exist"),
        (["--epochs", "0"], "--epochs must be positive"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--resume", "--overwrite"], "contradict"),
        (["--method", "distill"], "invalid choice"),
    ],
)
def test_bad_settings_exit_with_a_message_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_medmnist_task_lists_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--data", "medmnist", "--root", str(tmp_path), "--tasks", "brainmnist"])
    err = capsys.readouterr().err
    assert "brainmnist" in err and "pathmnist" in err


def test_task_names_of_the_new_sources(tmp_path):
    rad = parse_args(
        [
            "--data",
            "radimagenet",
            "--root",
            str(tmp_path),
            "--tasks",
            "rad_task01",
            "rad_task11",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rad.tasks == ["rad_task01", "rad_task11"] and rad.train_list is None
    chest = parse_args(
        [
            "--data",
            "medmnist",
            "--root",
            str(tmp_path),
            "--tasks",
            "chestmnist",
            "retinamnist",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert chest.tasks == ["chestmnist", "retinamnist"]


def test_an_earlier_run_is_never_silently_overwritten(tmp_path, capsys):
    run_folder.prepare(TrainConfig(out=str(tmp_path)), "test")
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path)])
    assert "--resume" in capsys.readouterr().err
    assert parse_args(["--out", str(tmp_path), "--resume"]).resume


def test_copied_names_match_their_registries():
    """config.py copies these names so --help loads without torch; they must not drift."""
    from lorkd_kernels.conversion import EXPERTS_ON
    from lorkd_kernels.pipeline.data import SOURCES
    from lorkd_kernels.pipeline.models import MODELS

    assert config.MODEL_NAMES == tuple(MODELS)
    assert config.DATA_SOURCES == tuple(SOURCES)
    assert config.EXPERTS_ON == tuple(EXPERTS_ON)


def test_help_shows_only_meaningful_defaults():
    text = " ".join(build_parser().format_help().split())
    assert "(default: None)" not in text
    assert "(default: True)" not in text and "(default: False)" not in text
    assert text.count("(default: all tasks of the data source)") == 1
    assert "(default: lorkd)" in text and "(default: runs/lorkd)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--momentum", "-1"], "--momentum must be >= 0"),
        (["--weight-decay", "-0.1"], "--weight-decay must be >= 0"),
        (["--device", "foo"], "--device 'foo' is not a device"),
        (["--batch-size", "30", "--grad-accum", "4"], "must be divisible"),
        (["--synthetic-samples", "4"], "fewer than one batch"),
        (["--method", "stl", "--synthetic-samples", "40"], "the smallest task has only 40"),
    ],
)
def test_settings_that_would_crash_later_are_refused_up_front(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_cuda_device_without_a_gpu_is_refused(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        parse_args(["--device", "cuda"])
    assert "--device cuda: torch sees no CUDA GPU" in capsys.readouterr().err


def test_progress_bars_without_tqdm_are_refused(monkeypatch, capsys):
    real = config.importlib.util.find_spec
    monkeypatch.setattr(
        config.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tqdm" else real(name, *a),
    )
    with pytest.raises(SystemExit):
        parse_args(["--progress", "on"])
    assert "--progress on needs tqdm" in capsys.readouterr().err
    assert parse_args(["--progress", "off"]).progress == "off"


def test_an_out_folder_that_cannot_be_made_is_refused(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path / "file" / "run")])
    assert "is a file, not a folder" in capsys.readouterr().err
    monkeypatch.setattr(config.os, "access", lambda path, mode: False)
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path / "new" / "run")])
    assert "no permission to write in" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
