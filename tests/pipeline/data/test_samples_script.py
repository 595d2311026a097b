"""python/synthetic_samples.py draws one row per synthetic task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lorkd_kernels.pipeline.data.synthetic_tasks import TASK_SPECS

ROOT = str(Path(__file__).resolve().parents[3])


def test_script_writes_a_grid_of_samples(tmp_path):
    out = tmp_path / "grid.png"
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "python", "synthetic_samples.py"),
            "--out",
            str(out),
            "--image-size",
            "16",
            "--scale",
            "1",
            "--examples",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    grid = np.asarray(Image.open(out).convert("L"))
    # each task row holds at least one 16-pixel tile that is not blank canvas
    assert grid.shape[0] >= len(TASK_SPECS) * 16
    inked_rows = np.flatnonzero((grid < 250).mean(1) > 0.05)
    assert len(inked_rows) >= len(TASK_SPECS) * 16
