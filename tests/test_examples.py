"""The runnable examples in python/ work end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.pipeline.training.tiny import tiny_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_trains_and_merges():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "python", "quickstart.py")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    losses = [float(line.split()[-1]) for line in lines if line.startswith("step")]
    assert losses[-1] < losses[0], "training did not reduce the loss"
    difference = float(lines[-1].split()[-1])
    assert difference < 1e-4, "merged expert disagrees with the EKS model"


def test_compare_methods_writes_table_json_and_plot(tmp_path):
    flags = tiny_args(tmp_path / "runs", tmp_path / "data", "--epochs", "1", "--progress", "off")
    flags = flags[2:]                                    # the script takes --out itself
    result = subprocess.run([sys.executable, os.path.join(ROOT, "python", "compare_methods.py"),
                             "--out", str(tmp_path / "runs"), *flags], capture_output=True,
                            text=True, timeout=600, cwd=ROOT,
                            env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "runs" / "comparison.md").read_text()
    for method in ("lorkd", "stl", "mtl", "stl-kd", "mtl-kd", "teacher"):
        assert f"| {method} |" in table
    results = json.loads((tmp_path / "runs" / "comparison.json").read_text())
    assert set(results) == {"lorkd", "stl", "mtl", "stl-kd", "mtl-kd"}
    assert (tmp_path / "runs" / "comparison.png").stat().st_size > 5000
