"""The runnable examples in python/ work end to end."""

from __future__ import annotations

import os
import subprocess
import sys

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
