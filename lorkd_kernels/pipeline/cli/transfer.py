"""``python -m lorkd_kernels.transfer DIR --data folder --root DATA`` (or ``lorkd-transfer``):
transfer a training run's models to downstream data sets.

Every task of the downstream source is one data set. Each model the run holds (each deployed
expert of a LoRKD run; the student(s) of a baseline run; the teacher) gets a new head for the
data set's classes, then a linear probe (frozen backbone) and/or a fine-tune of every weight,
on a fixed schedule, scored on the test split after the last epoch. Writes
``DIR/transfer-<name>.json`` (``--name``, default the data folder's name) and prints the table
of test accuracy and AUC.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, cast

from ... import __version__
from ..training.config import ConfigError, TrainConfig, check_device
from .common import (
    CommandParser,
    DefaultsFormatter,
    add_command_flags,
    add_format_flag,
    check_numbers,
    configure_logging,
    debugging,
    quiet_interrupt,
    run_command,
    write_results,
)
from .run_dir import RunFolderError, run_config, teacher_path, training_run

NAME = "lorkd_kernels.transfer"
SOURCES = ("folder", "medmnist")  # pipeline.data.SOURCES that need no generation
MODE_CHOICES = ("linear", "finetune", "both")  # pipeline.transfer.MODES and both
DEFAULTS = {
    "epochs": 5,
    "lr": 0.01,
    "linear_lr": 0.1,
    "batch_size": 32,
    "eval_batch_size": 256,
    "seed": 0,
}  # pipeline.transfer.TransferSettings' (test_transfer.py checks)


def build_parser() -> CommandParser:
    p = CommandParser(
        name=NAME,
        description=__doc__.split("\n\n")[0].split(":\n", 1)[1],
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("run_dir", metavar="DIR", help="output folder of a training run")
    p.add_argument(
        "--data",
        choices=SOURCES,
        default="folder",
        help="the downstream source: image folders root/<task>/<split>/<class>/* "
        "or MedMNIST .npz files; each task is one data set",
    )
    p.add_argument("--root", required=True, help="the downstream data folder")
    p.add_argument("--tasks", nargs="+", help="data sets to use (default: every task of --root)")
    p.add_argument(
        "--mode",
        choices=MODE_CHOICES,
        default="both",
        help="linear probe (frozen backbone), fine-tune (every weight), or both",
    )
    p.add_argument(
        "--image-size",
        type=int,
        help="resize images to this size (default: the run's --image-size, else the files' size)",
    )
    p.add_argument(
        "--name",
        help="results go to DIR/transfer-<name>.json (default: the name of the --root folder)",
    )
    p.add_argument(
        "--teacher-ckpt",
        help="the teacher file, when not where the run found it (default: "
        "DIR/teacher.pt, or the run's --teacher-ckpt)",
    )
    g = p.add_argument_group("schedule (fixed; the last epoch is reported)")
    g.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="epochs per model")
    g.add_argument(
        "--lr",
        type=float,
        default=DEFAULTS["lr"],
        help="fine-tuning's peak learning rate (SGD, cosine schedule)",
    )
    g.add_argument(
        "--linear-lr",
        type=float,
        default=DEFAULTS["linear_lr"],
        help="the linear probe's peak learning rate",
    )
    g.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    g.add_argument("--eval-batch-size", type=int, default=DEFAULTS["eval_batch_size"])
    g.add_argument(
        "--seed", type=int, default=DEFAULTS["seed"], help="seeds the new heads and the batch order"
    )
    p.add_argument(
        "--device",
        default=TrainConfig.device,
        help="auto (a GPU if there is one), cpu, cuda or cuda:N",
    )
    add_format_flag(p)
    add_command_flags(p, __version__)
    return p


def _check_flags(parser: CommandParser, args) -> None:
    if not Path(args.root).is_dir():
        parser.error(f"--root {args.root!r} is not a folder")
    check_numbers(
        parser,
        args,
        counts=("epochs", "batch_size", "eval_batch_size", "image_size"),
        rates=("lr", "linear_lr"),
    )
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        parser.error(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' only")
    try:
        check_device(args.device)
    except ConfigError as err:
        parser.error(str(err))


def _run_models(run_dir: Path, config: TrainConfig, teacher_flag: Optional[str]) -> Dict:
    """``{name: model}``: a LoRKD run's experts, a baseline's student(s), and the teacher."""
    from ..training import artifacts

    tasks = config.tasks or sorted(p.stem for p in (run_dir / "experts").glob("*.safetensors"))
    if not tasks:
        raise RunFolderError(f"{run_dir / 'experts'} holds no experts: the run has not finished")
    if config.method == "lorkd":
        models = {f"expert-{t}": artifacts.load_expert(run_dir, t) for t in tasks}
    elif config.single_task:
        models = {f"student-{t}": artifacts.load_expert(run_dir, t) for t in tasks}
    else:  # every task's expert is the one shared student with that task's head
        models = {"student": artifacts.load_expert(run_dir, tasks[0])}
    models["teacher"] = artifacts.load_teacher(teacher_path(config, run_dir, teacher_flag), None)
    return models


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.3f}"


def format_table(results: Dict, modes: Sequence[str]) -> str:
    header = "| data set | model | " + " | ".join(f"{m} ACC | {m} AUC" for m in modes) + " |"
    lines = [header, "|---|---|" + "---:|" * (2 * len(modes))]
    for dataset, models in results.items():
        for model, scores in models.items():
            cells = " | ".join(
                f"{_number(scores[m]['accuracy'])} | {_number(scores[m]['auc'])}" for m in modes
            )
            lines.append(f"| {dataset} | {model} | {cells} |")
    return "\n".join(lines)


@quiet_interrupt(NAME)
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    run_dir = training_run(parser, args.run_dir)
    _check_flags(parser, args)

    from ..data import DataError
    from ..training.checkpoint import CheckpointError

    def transfer_command() -> int:
        import torch

        from ..data import BaseTaskDataset, load_tasks
        from ..transfer import MODES, TransferSettings, transfer

        config = run_config(run_dir)
        size = args.image_size or config.image_size
        splits = {
            split: load_tasks(args.data, args.root, args.tasks, split, image_size=size)
            for split in ("train", "test")
        }
        # MultiTaskDataset holds task datasets only (it checks them)
        for dataset in cast(List[BaseTaskDataset], splits["train"].datasets):
            if len(dataset) < 2:
                raise DataError(
                    f"{args.root}: data set {dataset.name!r} has {len(dataset)} "
                    f"training image(s); transfer needs at least 2"
                )
        models = _run_models(run_dir, config, args.teacher_ckpt)
        settings = TransferSettings(
            epochs=args.epochs,
            finetune_lr=args.lr,
            linear_lr=args.linear_lr,
            batch_size=args.batch_size,
            eval_batch_size=args.eval_batch_size,
            seed=args.seed,
        )
        device = torch.device(
            args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
        )
        modes = MODES if args.mode == "both" else (args.mode,)
        results: Dict[str, Dict] = {}
        for task, name in enumerate(splits["test"].task_names):
            train_set, test_set = (splits[s].datasets[task] for s in ("train", "test"))
            results[name] = {
                model_name: {
                    mode: transfer(model, mode, train_set, test_set, settings, device)
                    for mode in modes
                }
                for model_name, model in models.items()
            }
        summary = {
            "data": args.data,
            "root": args.root,
            "image_size": size,
            "modes": list(modes),
            "settings": dataclasses.asdict(settings),
            "results": results,
        }
        table = format_table(results, modes)
        out = run_dir / f"transfer-{args.name or Path(args.root).resolve().name}.json"
        write_results(out, summary, table)
        print(json.dumps(summary, indent=2, sort_keys=True) if args.format == "json" else table)
        print(
            f"outputs: {out.resolve()}",
            file=sys.stderr if args.format == "json" else sys.stdout,
            flush=True,
        )
        return 0

    return run_command(
        NAME,
        transfer_command,
        (RunFolderError, DataError, CheckpointError, OSError),
        debugging(args.debug),
    )


if __name__ == "__main__":
    sys.exit(main())
