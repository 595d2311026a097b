"""Interrupted runs resume exactly: SIGTERM or SIGINT mid-training (checkpoint written on the
signal) ends with the uninterrupted run's weights. SIGKILL at exact points and damaged
checkpoints are in test_fault_injection.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from lorkd_kernels.deploy.weights_file import read_weights
from tests.pipeline.training.tiny import REPO, run_cli, tiny_args

EXTRA = ("--teacher-epochs", "2", "--epochs", "3", "--progress", "off")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = run_cli(tiny_args(out, data_root, *EXTRA))
    assert result.returncode == 0, result.stderr
    return out


def _interrupt(out, data_root, sig, after_line):
    """Start a run, send ``sig`` once ``epochs.csv`` holds ``after_line``; return the process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "lorkd_kernels.train", *tiny_args(out, data_root, *EXTRA)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = out / "epochs.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and after_line in log.read_text():
            process.send_signal(sig)
            break
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=240)
    return process.returncode, stderr


def _state(path):
    if path.suffix == ".safetensors":  # a deployed expert
        return read_weights(path)[0]
    return torch.load(path, weights_only=True)["state_dict"]


def _same_state(a, b):
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# SIGINT in the teacher stage is the slow tier's: one interrupted run per test is enough for the
# default one
@pytest.mark.parametrize(
    "sig, after_line",
    [
        (signal.SIGTERM, "student,1,"),
        pytest.param(signal.SIGINT, "teacher,1,", marks=pytest.mark.slow),
    ],
)
def test_resumed_run_ends_with_identical_weights(
    sig, after_line, uninterrupted, data_root, tmp_path
):
    returncode, stderr = _interrupt(tmp_path, data_root, sig, after_line)
    assert returncode == 128 + sig, stderr
    assert "--resume" in stderr  # says how to continue
    assert not (tmp_path / "metrics.json").exists()
    result = run_cli(tiny_args(tmp_path, data_root, *EXTRA, "--resume"))
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    _same_state(tmp_path / "student.pt", uninterrupted / "student.pt")
    _same_state(tmp_path / "teacher.pt", uninterrupted / "teacher.pt")
    for task_file in (uninterrupted / "experts").iterdir():
        _same_state(tmp_path / "experts" / task_file.name, task_file)


def test_resuming_with_another_architecture_is_refused_and_keeps_the_run(
    uninterrupted, data_root, tmp_path
):
    returncode, _ = _interrupt(tmp_path, data_root, signal.SIGTERM, "student,1,")
    assert returncode == 128 + signal.SIGTERM
    saved = (tmp_path / "checkpoints" / "student.pt").read_bytes()
    args = tiny_args(tmp_path, data_root, *EXTRA, "--resume")
    args[args.index("--student-arch") + 1] = "shufflenet_v2_x1_0"
    config = (tmp_path / "config.json").read_bytes()
    result = run_cli(args)
    assert result.returncode == 2  # a usage error, found before any work
    assert (
        "--student-arch 'shufflenet_v2_x1_0' (the run has 'shufflenet_v2_x0_5')" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert (tmp_path / "checkpoints" / "student.pt").read_bytes() == saved
    assert (tmp_path / "config.json").read_bytes() == config
