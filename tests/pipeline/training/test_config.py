"""The command line: every flag documented, and bad settings refused with a clear message."""

from __future__ import annotations

import pytest

from lorkd_kernels.pipeline.training import METHODS, build_parser, parse_args


@pytest.fixture(autouse=True)
def _fresh_working_directory(tmp_path, monkeypatch):
    """The default --out (runs/lorkd) is relative: run each test where no earlier run exists (a
    run of the main command in the checkout leaves one there)."""
    monkeypatch.chdir(tmp_path)


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
    assert (config.method, config.data, config.rank, config.alpha) == ("lorkd", "synthetic", 4,
                                                                        16.0)
    assert (config.temperature, config.momentum, config.weight_decay) == (10.0, 0.9, 1e-4)
    assert config.beta > 0


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "tissue", "brain"], "unknown task(s) ['brain']"),
    (["--tasks", "tissue", "tissue"], "lists a task twice"),
    (["--data", "medmnist"], "--data medmnist needs --root"),
    (["--data", "folder"], "--data folder needs --root"),
    (["--data", "medmnist", "--root", "/nonexistent/medmnist"], "is not a folder"),
    (["--teacher-ckpt", "/nonexistent/teacher.pt"], "does not exist"),
    (["--epochs", "0"], "--epochs must be positive"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--resume", "--overwrite"], "contradict"),
    (["--method", "distill"], "invalid choice"),
])
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


def test_an_earlier_run_is_never_silently_overwritten(tmp_path, capsys):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(SystemExit):
        parse_args(["--out", str(tmp_path)])
    assert "--resume" in capsys.readouterr().err
    assert parse_args(["--out", str(tmp_path), "--resume"]).resume
