"""``python -m lorkd_kernels.evaluate DIR`` (or ``lorkd-evaluate``): evaluate a training run's
saved experts and teacher on every task of a split.

Reads ``DIR/config.json``, ``DIR/experts/<task>.safetensors`` and the teacher (``DIR/teacher.pt``,
or the file the run was given). The run's data is found relative to DIR (the synthetic benchmark in
``DIR/synthetic``, regenerated there if missing) or where the run read it, or at ``--root``.
Writes ``DIR/evaluation-<split>.json`` (or ``--out``) and prints the table; the run's own
``metrics.json`` is never touched, and nothing is written outside DIR but ``--out``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ... import __version__
from ..training.config import ConfigError, TrainConfig, check_device
from .common import (
    CommandParser,
    DefaultsFormatter,
    add_command_flags,
    add_format_flag,
    configure_logging,
    debugging,
    quiet_interrupt,
    run_command,
    write_results,
)
from .run_dir import (
    RunFolderError,
    check_output,
    data_config,
    run_config,
    teacher_path,
    training_run,
)

NAME = "lorkd_kernels.evaluate"
SPLITS = ("train", "val", "test")  # pipeline.data.SPLITS, copied: --help loads no torch


def build_parser() -> CommandParser:
    p = CommandParser(
        name=NAME,
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("run_dir", metavar="DIR", help="output folder of a training run")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="which split to evaluate on (every sample of it)",
    )
    p.add_argument(
        "--root",
        help="the data folder, when not where the run found it (default: "
        "DIR/synthetic for the built-in benchmark, else the run's --root)",
    )
    p.add_argument(
        "--teacher-ckpt",
        help="the teacher file, when not where the run found it (default: "
        "DIR/teacher.pt, or the run's --teacher-ckpt)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="write the results to FILE: markdown if it ends in .md, else JSON "
        "(default: DIR/evaluation-<split>.json)",
    )
    add_format_flag(p)
    p.add_argument(
        "--device",
        default=TrainConfig.device,
        help="auto (a GPU if there is one), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="evaluation batch size (default: the run's --eval-batch-size)",
    )
    add_command_flags(p, __version__)
    return p


@quiet_interrupt(NAME)
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    run_dir = training_run(parser, args.run_dir)
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be positive, got {args.batch_size}")
    check_output(parser, args.out, run_dir, own=("evaluation-*.json", "evaluation-*.md"))
    try:
        check_device(args.device)
    except ConfigError as err:
        parser.error(str(err))

    from ..data import DataError
    from ..training.checkpoint import CheckpointError

    def evaluate() -> int:
        import torch

        from ..evaluation import evaluate_run
        from ..label_kinds import multilabel_tasks
        from ..training import artifacts, reporting
        from ..training.splits import load_split

        config = run_config(run_dir)
        data = load_split(data_config(config, run_dir, args.root), args.split)
        experts = [
            artifacts.load_expert(run_dir, name, config.student_arch, classes)
            for name, classes in zip(data.task_names, data.num_classes)
        ]
        teacher = artifacts.load_teacher(
            teacher_path(config, run_dir, args.teacher_ckpt), data.num_classes, data.task_names
        )
        device = torch.device(
            args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
        )
        results = evaluate_run(
            experts, teacher, data, args.batch_size or config.eval_batch_size, device
        )
        summary = {
            **reporting.summarize(config.method, results, multilabel_tasks=multilabel_tasks(data)),
            "split": args.split,
        }
        table = reporting.format_table(summary)
        out = Path(args.out) if args.out else run_dir / f"evaluation-{args.split}.json"
        write_results(out, summary, table)
        print(json.dumps(summary, indent=2, sort_keys=True) if args.format == "json" else table)
        print(
            f"outputs: {out.resolve()}",
            file=sys.stderr if args.format == "json" else sys.stdout,
            flush=True,
        )
        return 0

    return run_command(
        NAME, evaluate, (RunFolderError, DataError, CheckpointError, OSError), debugging(args.debug)
    )


if __name__ == "__main__":
    sys.exit(main())
