"""Every benchmark runs once at a tiny size, and the report is built from its JSON, so the suites
and the report never rot (no timing asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# one timed round per benchmark, no calibration beyond a single call: fast, but a real JSON
ONE_ROUND = ["--benchmark-min-rounds=1", "--benchmark-max-time=0", "--benchmark-warmup=off"]


# every suite collected and run in a subprocess (about 40 s): the slow tier
@pytest.mark.slow
def test_benchmarks_run_once_at_tiny_size_and_report(tmp_path):
    # one thread: tiny problems gain nothing from more, and a busy machine hurts spinning threads
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result_json = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--bench-tiny",
            *ONE_ROUND,
            f"--benchmark-json={result_json}",
            os.path.join(ROOT, "benchmarks"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and " skipped" not in result.stdout

    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.report",
            str(result_json),
            "--markdown",
            str(tmp_path / "report.md"),
            "--plot",
            str(tmp_path / "report.png"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    text = (tmp_path / "report.md").read_text()
    for section in (
        "### Summary",
        "### Conv layers",
        "### Linear layers",
        "### Sweep",
        "### Model level",
        "### Peak memory",
        "paper / EKS",
        "per_task_loop",
    ):
        assert section in text, section
    assert (tmp_path / "report.png").stat().st_size > 0
