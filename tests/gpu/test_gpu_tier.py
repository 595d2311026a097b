"""The ``gpu`` tier on a machine without a GPU: collected, left out of the default run, skipped
when selected, and failed under ``--require gpu`` (each in a pytest process of its own with no
GPU visible, so the checks hold on a GPU machine too). Each starts pytest: the slow tier runs
them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPU_FILE = "tests/gpu/test_cuda_backends.py"
#: five tests, to keep these runs short: the registry check and one fp32 linear case per form
FEW = ["-k", "every_cuda_backend or (linear_matches_reference and basic-float32)"]


def _pytest(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_gpu_tests_are_collected_under_the_marker_and_left_out_by_default():
    selected = _pytest("--collect-only", "-q", "-m", "gpu", "tests/gpu")
    ids = [line for line in selected.stdout.splitlines() if "::" in line]
    assert selected.returncode == 0, selected.stdout + selected.stderr
    assert len(ids) > 100 and all(i.startswith(GPU_FILE) for i in ids)
    default = _pytest("--collect-only", "-q", GPU_FILE)
    assert f"{len(ids)} deselected" in default.stdout, default.stdout


def test_without_a_gpu_the_tests_skip():
    result = _pytest("-q", "-rs", "-m", "gpu", GPU_FILE, *FEW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 skipped" in result.stdout and "passed" not in result.stdout
    assert "no CUDA GPU is visible" in result.stdout


def test_require_gpu_turns_the_skip_into_a_failure():
    result = _pytest("-q", "-m", "gpu", GPU_FILE, "--require", "gpu", *FEW)
    assert result.returncode == 1, result.stdout + result.stderr
    # the GPU check is a fixture: a failure there is reported as an error of the test
    assert "5 errors" in result.stdout and "passed" not in result.stdout
    assert "--require gpu: no CUDA GPU is visible" in result.stdout
