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


def _run_tiny(tmp_path, name, *args):
    """``args`` benchmarked once at tiny size into ``tmp_path/<name>.json``, then its report and
    plot; the report's text."""
    # one thread: tiny problems gain nothing from more, and a busy machine hurts spinning threads;
    # without pytest-xdist's variables, which would make the inner run's pytest-benchmark think
    # it is a worker and write no JSON
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["OMP_NUM_THREADS"] = "1"
    result_json = tmp_path / f"{name}.json"
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
            *args,
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
            str(tmp_path / f"{name}.md"),
            "--plot",
            str(tmp_path / f"{name}.png"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert (tmp_path / f"{name}.png").stat().st_size > 0
    return (tmp_path / f"{name}.md").read_text()


# every suite collected and run in a subprocess (about 40 s): the slow tier
@pytest.mark.slow
def test_benchmarks_run_once_at_tiny_size_and_report(tmp_path):
    text = _run_tiny(tmp_path, "bench", os.path.join(ROOT, "benchmarks"))
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


# the GPU acceptance run's suites and scope, on the CPU (about 30 s): the slow tier
@pytest.mark.slow
def test_the_paper_scale_runs_once_at_tiny_size_and_reports(tmp_path):
    from benchmarks.gpu_acceptance import BENCH_SUITES

    text = _run_tiny(tmp_path, "paper", "--bench-scope", "paper", *BENCH_SUITES)
    for section in (
        "### Paper scale",
        "paper scale, float32:",
        "paper scale, bfloat16:",
        "at the paper's scale, bfloat16, training step",
        "| student | what | dtype |",
    ):
        assert section in text, section
