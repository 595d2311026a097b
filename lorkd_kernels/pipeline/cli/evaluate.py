"""Evaluate saved experts and the teacher on every task's full test split.

    python -m lorkd_kernels.evaluate DIR

re-reads ``DIR/config.json``, ``DIR/teacher.pt`` and ``DIR/experts/<task>.safetensors`` written by
``python -m lorkd_kernels.train`` and rewrites ``DIR/metrics.json`` (and prints the table).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from ..data import DataError
from ..training import artifacts, reporting
from ..training.checkpoint import CheckpointError
from ..training.config import TrainConfig
from ..training.splits import load_split
from ..evaluation import evaluate_run

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lorkd_kernels.evaluate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="output folder of a training run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        parser.error(f"{run_dir} is not a training run: {config_path} is missing")
    config = TrainConfig.from_json(json.loads(config_path.read_text()))
    # A run given --teacher-ckpt evaluated that file; one that trained its teacher saved it.
    teacher_path = Path(config.teacher_ckpt) if config.teacher_ckpt else run_dir / "teacher.pt"
    try:
        test_set = load_split(config, "test")
        experts = [artifacts.load_expert(run_dir, name, config.student_arch, classes)
                   for name, classes in zip(test_set.task_names, test_set.num_classes)]
        teacher = artifacts.load_teacher(teacher_path, test_set.num_classes)
    except (DataError, CheckpointError, FileNotFoundError) as err:
        print(f"lorkd_kernels.evaluate: error: {err}", file=sys.stderr)
        return 1
    results = evaluate_run(experts, teacher, test_set, args.batch_size, torch.device(args.device))
    summary = reporting.write_metrics(run_dir, config.method, results)
    print(reporting.format_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
