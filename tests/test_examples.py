"""The runnable examples in python/ work end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_trains_and_merges():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "python", "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    losses = [float(line.split()[-1]) for line in lines if line.startswith("step")]
    assert losses[-1] < losses[0], "training did not reduce the loss"
    difference = float(lines[-1].split()[-1])
    assert difference < 1e-4, "merged expert disagrees with the EKS model"


def test_compare_methods_builds_its_report_from_the_record(tmp_path):
    from tests.pipeline.comparison.records import random_record

    (tmp_path / "comparison.json").write_text(json.dumps(random_record()))
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "python", "compare_methods.py"),
            "--report-only",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT),
    )
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "comparison.md").read_text()
    for row in ("lorkd", "stl", "mtl", "stl-kd", "mtl-kd", "stl-steps", "lorkd beta=0"):
        assert f"| {row} |" in table
    assert (tmp_path / "comparison.png").stat().st_size > 5000
