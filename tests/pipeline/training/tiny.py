"""A pipeline run small enough for tests: three synthetic tasks, 16×16 images, small models;
and the check of a usage error of the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

import pytest
import torch

from lorkd_kernels.pipeline.training import parse_args

REPO = Path(__file__).resolve().parents[3]
TASKS = ["tissue", "blood", "chest"]


#: the small models and short schedule of every tiny run
TINY_TRAINING = (
    "--image-size 16 --teacher-arch resnet18 --student-arch shufflenet_v2_x0_5 "
    "--teacher-epochs 1 --epochs 2 --batch-size 24 --eval-batch-size 64 --lr 0.02"
).split()


def tiny_args(out: Path, data_root: Path, *extra: str) -> List[str]:
    return [
        *("--out", str(out), "--root", str(data_root), "--tasks", *TASKS),
        *("--synthetic-samples", "48", *TINY_TRAINING, *extra),
    ]


def run_cli(
    args: Sequence[str],
    module: str = "lorkd_kernels.train",
    launcher=(),
    timeout: float = 300,
    cwd: Path = REPO,
    fault: str = "",
) -> subprocess.CompletedProcess:
    """Run a CLI in a fresh process (signals and torchrun need one), one thread per process;
    ``fault`` (``<point>[:<n>]``) runs it killed at that point
    (tests/pipeline/training/faults.py)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if fault:
        module, args = "tests.pipeline.training.faults", [fault, module, *args]
    command = (
        [sys.executable, *launcher, "-m", module, *args]
        if launcher
        else [sys.executable, "-m", module, *args]
    )
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def saved_state(path: Path) -> dict:
    """The state dict of a saved teacher or student."""
    return torch.load(path, weights_only=True)["state_dict"]


def usage_error(argv: Sequence[str], capsys) -> str:
    """The one line a refused command line prints (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err
