"""The training command as a user meets it: fast --help, --version, the console entry points,
one-line errors with exit status 2 (usage) or 1 (run-time), --debug for the traceback, and the
line saying where the outputs are."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import lorkd_kernels
from lorkd_kernels import train
from tests.pipeline.training.tiny import REPO, TASKS, tiny_args

PYPROJECT = REPO / "pyproject.toml"
ENTRY_POINTS = {
    "lorkd-train": "lorkd_kernels.train",
    "lorkd-evaluate": "lorkd_kernels.evaluate",
    "lorkd-compare": "lorkd_kernels.compare",
    "lorkd-costs": "lorkd_kernels.costs",
    "lorkd-transfer": "lorkd_kernels.transfer",
}


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
    )


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS.values()))
def test_help_answers_without_importing_torch(module, tmp_path):
    result = _python(
        f"import runpy, sys\n"
        f"sys.argv = ['{module}', '--help']\n"
        f"try:\n    runpy.run_module('{module}', run_name='__main__')\n"
        f"except SystemExit as stop:\n    assert stop.code == 0, stop.code\n"
        f"heavy = sorted(m for m in ('torch', 'numpy', 'sklearn') if m in "
        f"sys.modules)\nprint('heavy:', heavy)",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "--debug" in result.stdout and "heavy: []" in result.stdout


def test_console_entry_points_run_the_commands(tmp_path):
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    assert set(scripts) == set(ENTRY_POINTS)
    for name, target in scripts.items():
        module, function = target.split(":")
        result = _python(
            f"import sys\nsys.argv = ['{name}', '--version']\n"
            f"from {module} import {function}\nsys.exit({function}())",
            tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{name} {lorkd_kernels.__version__}"
        # the same function behind python -m
        assert (
            getattr(__import__(ENTRY_POINTS[name], fromlist=["main"]), "main").__module__ == module
        )


def test_usage_errors_are_one_line_with_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--out", str(tmp_path / "run"), "--momentum", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("lorkd_kernels.train: error: --momentum") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def garbage(tmp_path_factory):
    path = tmp_path_factory.mktemp("garbage") / "teacher.pt"
    path.write_bytes(b"\x80\x02not a checkpoint" * 40)
    return path


def test_a_garbage_teacher_is_one_line_that_never_advises_unsafe_loading(
    garbage, data_root, tmp_path, capsys
):
    args = tiny_args(tmp_path / "run", data_root, "--teacher-ckpt", str(garbage))
    assert train.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lorkd_kernels.train: error: {garbage} is not a model file")
    assert err.count("\n") == 1 and "weights_only" not in err and "Traceback" not in err


def test_debug_shows_the_traceback(garbage, data_root, tmp_path, capsys):
    args = tiny_args(tmp_path / "run", data_root, "--teacher-ckpt", str(garbage), "--debug")
    assert train.main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith(
        "not a model file written by "
        "lorkd_kernels.train: it is corrupt, or "
        "holds more than tensors and plain values"
    )


def test_file_system_failures_are_one_line_with_status_1(data_root, tmp_path, monkeypatch, capsys):
    from lorkd_kernels.pipeline.training import run_folder

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "run"))

    monkeypatch.setattr(run_folder, "prepare", read_only)
    assert train.main(tiny_args(tmp_path / "run", data_root)) == 1
    err = capsys.readouterr().err
    assert (
        err == f"lorkd_kernels.train: error: [Errno 13] Permission denied: '{tmp_path / 'run'}'\n"
    )


def test_a_run_ends_saying_where_its_outputs_are(data_root, tmp_path, capsys):
    args = tiny_args(tmp_path / "run", data_root, "--tasks", *TASKS[:2], "--epochs", "1", "--quiet")
    assert train.main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == f"outputs: {(tmp_path / 'run').resolve()}"
    assert "epoch" not in captured.err  # --quiet: no per-epoch lines


def test_data_smaller_than_one_batch_is_a_usage_error_before_any_write(tmp_path, capsys):
    from tests.pipeline.data.layouts import medmnist_arrays, write_npz

    root = tmp_path / "medmnist"
    root.mkdir()
    write_npz(root / "pathmnist.npz", medmnist_arrays(9))  # 12 training images
    assert (
        train.main(
            [
                "--data",
                "medmnist",
                "--root",
                str(root),
                "--tasks",
                "pathmnist",
                "--out",
                str(tmp_path / "run"),
                "--batch-size",
                "16",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--batch-size 16: the training set has only 12 samples" in err
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()


def test_a_non_finite_loss_stops_training_in_one_line_before_its_update(
    data_root, tmp_path, capsys
):
    out = tmp_path / "run"
    # A huge expert scaling (finite, so a valid setting) makes the student's loss overflow
    # once its first update moves B off zero; the teacher trains first.
    args = tiny_args(out, data_root, "--tasks", *TASKS[:2], "--alpha", "1e38")
    assert train.main(args) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the teacher's epoch line
    assert re.match(
        r"lorkd_kernels\.train: error: \[student\] epoch 1, step \d+: "
        r"loss (nan|inf|-inf); ",
        last,
    ), last
    assert "training stopped before that update (no checkpoint of this stage was written)" in last
    assert "Traceback" not in err and "[student] epoch 1:" not in err
    assert not (out / "metrics.json").exists()
    assert (out / "teacher.pt").exists()  # what was saved before stays


def test_a_bad_teacher_file_stops_the_run_before_the_benchmark_is_generated(
    garbage, tmp_path, capsys
):
    out = tmp_path / "run"
    args = tiny_args(out, tmp_path / "unused", "--teacher-ckpt", str(garbage))
    del args[args.index("--root") : args.index("--root") + 2]  # data generated into --out
    assert train.main(args) == 1
    assert "not a model file" in capsys.readouterr().err
    assert not out.exists()


def test_ctrl_c_while_starting_is_one_line_and_status_130(tmp_path):
    """Early SIGINT lands in the imports or the first data work: either way, no traceback."""
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "lorkd_kernels.train", "--out", str(tmp_path / "run")],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
