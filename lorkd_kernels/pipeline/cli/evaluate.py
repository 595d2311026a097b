"""``python -m lorkd_kernels.evaluate DIR`` (or ``lorkd-evaluate``): evaluate a training run's
saved experts and teacher on every task of a split.

Reads ``DIR/config.json``, ``DIR/experts/<task>.safetensors`` and the teacher (``DIR/teacher.pt``, or the
file the run was given). The run's data is found relative to DIR (the synthetic benchmark in
``DIR/synthetic``, regenerated there if missing) or where the run read it, or at ``--root``.
Writes ``DIR/evaluation-<split>.json`` (or ``--out``) and prints the table; the run's own
``metrics.json`` is never touched, and nothing is written outside DIR but ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ... import __version__
from ..training.config import ConfigError, TrainConfig, check_device
from ..training.settings_file import read_settings
from .common import CommandParser, DefaultsFormatter, add_command_flags, configure_logging, \
    debugging, run_command

NAME = "lorkd_kernels.evaluate"
SPLITS = ("train", "val", "test")      # pipeline.data.SPLITS, copied: --help loads no torch
FORMATS = ("markdown", "json")


class RunFolderError(RuntimeError):
    """A run folder whose files cannot be used (exit status 1)."""


def build_parser() -> CommandParser:
    p = CommandParser(name=NAME,
                      description=__doc__.split("\n\n")[0].split(": ", 1)[1],
                      formatter_class=DefaultsFormatter)
    p.add_argument("run_dir", metavar="DIR", help="output folder of a training run")
    p.add_argument("--split", choices=SPLITS, default="test",
                   help="which split to evaluate on (every sample of it)")
    p.add_argument("--root",
                   help="the data folder, when not where the run found it (default: "
                        "DIR/synthetic for the built-in benchmark, else the run's --root)")
    p.add_argument("--teacher-ckpt",
                   help="the teacher file, when not where the run found it (default: "
                        "DIR/teacher.pt, or the run's --teacher-ckpt)")
    p.add_argument("--out", metavar="FILE",
                   help="write the results to FILE: markdown if it ends in .md, else JSON "
                        "(default: DIR/evaluation-<split>.json)")
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="what to print: the markdown table or the JSON results")
    p.add_argument("--device", default=TrainConfig.device,
                   help="auto (a GPU if there is one), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=int,
                   help="evaluation batch size (default: the run's --eval-batch-size)")
    add_command_flags(p, __version__)
    return p


def _run_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.json"
    try:
        return TrainConfig.from_json(read_settings(path, source="the run's settings"))
    except ConfigError as err:
        raise RunFolderError(str(err)) from None


def _data_config(config: TrainConfig, run_dir: Path, root: Optional[str]) -> TrainConfig:
    """The run's settings with its data found from DIR (a moved run folder keeps working)."""
    if root is not None:
        if not Path(root).is_dir():
            raise ConfigError(f"--root {root!r} is not a folder")
        return dataclasses.replace(config, root=root, out=str(run_dir))
    if config.root is None:          # the built-in benchmark, generated in the run folder
        return dataclasses.replace(config, out=str(run_dir))
    if not Path(config.root).is_dir():
        raise RunFolderError(f"the run's data folder {config.root!r} is missing: pass --root")
    return dataclasses.replace(config, out=str(run_dir))


def _teacher_path(config: TrainConfig, run_dir: Path, flag: Optional[str]) -> Path:
    path = Path(flag or config.teacher_ckpt or run_dir / "teacher.pt")
    if not path.is_file():
        where = "--teacher-ckpt" if flag else "the run's teacher"
        raise RunFolderError(f"{where} {str(path)!r} is missing"
                             + ("" if flag else ": pass --teacher-ckpt"))
    return path


def _write(summary: dict, path: Path, markdown: str) -> None:
    from ..atomic_files import atomic_open, write_json
    if path.suffix == ".md":
        with atomic_open(path) as handle:
            handle.write((markdown + "\n").encode())
    else:
        write_json(path, summary)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.json").is_file():
        parser.error(f"{args.run_dir} is not a training run: {run_dir / 'config.json'} is "
                     f"missing")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be positive, got {args.batch_size}")
    if args.out is not None and not Path(args.out).parent.is_dir():
        parser.error(f"--out {args.out!r}: {str(Path(args.out).parent)!r} is not a folder")
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

        config = _run_config(run_dir)
        data_config = _data_config(config, run_dir, args.root)
        data = load_split(data_config, args.split)
        experts = [artifacts.load_expert(run_dir, name, config.student_arch, classes)
                   for name, classes in zip(data.task_names, data.num_classes)]
        teacher = artifacts.load_teacher(_teacher_path(config, run_dir, args.teacher_ckpt),
                                         data.num_classes)
        device = torch.device(args.device if args.device != "auto" else
                              "cuda" if torch.cuda.is_available() else "cpu")
        results = evaluate_run(experts, teacher, data,
                               args.batch_size or config.eval_batch_size, device)
        summary = {**reporting.summarize(config.method, results,
                                         multilabel_tasks=multilabel_tasks(data)),
                   "split": args.split}
        table = reporting.format_table(summary)
        out = Path(args.out) if args.out else run_dir / f"evaluation-{args.split}.json"
        _write(summary, out, table)
        print(json.dumps(summary, indent=2, sort_keys=True) if args.format == "json" else table)
        print(f"outputs: {out.resolve()}", file=sys.stderr if args.format == "json" else
              sys.stdout, flush=True)
        return 0

    return run_command(NAME, evaluate, (RunFolderError, DataError, CheckpointError, OSError),
                       debugging(args.debug))


if __name__ == "__main__":
    sys.exit(main())
