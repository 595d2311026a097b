"""``python -m lorkd_kernels.costs [DIR]`` (or ``lorkd-costs``): parameters and FLOPs of the
teacher, the student as trained (every expert) and each deployed expert.

With DIR, a saved training run: its settings from ``DIR/config.json``, its tasks, input size
and epoch length from the run's data (or from the ``DIR/costs.json`` training wrote); the
table is written to ``DIR/costs.json`` and ``DIR/costs.md`` and printed. Without DIR, the
setting comes from the flags (``--student-arch``, ``--teacher-arch``, ``--tasks``,
``--image-size``, ...), and nothing is written but ``--out``. ``--gpu-estimate`` adds an
estimated time per epoch on one GPU, with its assumption printed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ... import __version__
from ..training.config import (
    DATA_SOURCES,
    EXPERTS_ON,
    METHODS,
    MODEL_NAMES,
    ConfigError,
    TrainConfig,
)
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
from .run_dir import RunFolderError, check_output, data_config, run_config, training_run

NAME = "lorkd_kernels.costs"
# the flags that describe a setting without a run; a run's own come from its config.json
SETTING_FLAGS = (
    "method",
    "student_arch",
    "teacher_arch",
    "experts_on",
    "rank",
    "alpha",
    "image_size",
    "data",
    "tasks",
)
#: NVIDIA H100 SXM's dense (no sparsity) BF16 tensor-core peak, TFLOP/s
H100_BF16_DENSE_TFLOPS = 989.0
#: the fraction of that peak a training step is assumed to achieve (an assumption, not measured)
ASSUMED_UTILISATION = 0.2


def build_parser() -> CommandParser:
    defaults = TrainConfig()
    p = CommandParser(
        name=NAME,
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        formatter_class=DefaultsFormatter,
    )
    p.add_argument(
        "run_dir",
        metavar="DIR",
        nargs="?",
        help="output folder of a training run (leave out to describe a setting "
        "with the flags below)",
    )
    g = p.add_argument_group("the setting without DIR (defaults: the training command's)")
    g.add_argument("--method", choices=METHODS, help=f"default: {defaults.method}")
    g.add_argument("--student-arch", choices=MODEL_NAMES, help=f"default: {defaults.student_arch}")
    g.add_argument("--teacher-arch", choices=MODEL_NAMES, help=f"default: {defaults.teacher_arch}")
    g.add_argument("--experts-on", choices=EXPERTS_ON, help=f"default: {defaults.experts_on}")
    g.add_argument("--rank", type=int, help=f"default: {defaults.rank}")
    g.add_argument("--alpha", type=float, help=f"default: {defaults.alpha}")
    g.add_argument("--image-size", type=int, help="input size (required without DIR)")
    g.add_argument(
        "--data",
        choices=DATA_SOURCES,
        help=f"whose tasks and class counts --tasks names (default: {defaults.data})",
    )
    g.add_argument("--tasks", nargs="+", help="task names (default: all of the data source)")
    p.add_argument(
        "--root",
        help="with DIR: the run's data folder, when not where the run found it; "
        "without: the folder of --data folder",
    )
    g = p.add_argument_group("GPU time estimate")
    g.add_argument(
        "--gpu-estimate",
        action="store_true",
        help="add an estimated time per epoch on one GPU: counted FLOPs per epoch / "
        "(--peak-tflops × --utilisation)",
    )
    g.add_argument(
        "--samples-per-epoch",
        type=int,
        help="training samples per epoch (default: the run's training set; without "
        "DIR, the MedMNIST training splits of the chosen tasks)",
    )
    g.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_BF16_DENSE_TFLOPS,
        help="the GPU's peak TFLOP/s (default: an H100 SXM's dense BF16 peak, 989)",
    )
    g.add_argument(
        "--utilisation",
        type=float,
        default=ASSUMED_UTILISATION,
        help="assumed fraction of the peak a training step achieves",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help="also write the results to FILE: markdown if it ends in .md, else JSON",
    )
    add_format_flag(p)
    add_command_flags(p, __version__)
    return p


def _check_flags(parser: CommandParser, args) -> None:
    if args.run_dir is not None:
        given = [
            f"--{name.replace('_', '-')}"
            for name in SETTING_FLAGS
            if getattr(args, name) is not None
        ]
        if given:
            parser.error(
                f"{', '.join(given)}: a run's setting comes from DIR/config.json; "
                f"leave DIR out to describe another setting"
            )
    elif args.image_size is None:
        parser.error("--image-size is required without DIR")
    check_numbers(
        parser,
        args,
        counts=("rank", "image_size", "samples_per_epoch"),
        rates=("alpha", "peak_tflops"),
    )
    if args.samples_per_epoch is not None and not args.gpu_estimate:
        parser.error("--samples-per-epoch only applies with --gpu-estimate")
    if not 0 < args.utilisation <= 1:
        parser.error(f"--utilisation must be in (0, 1], got {args.utilisation}")
    check_output(
        parser,
        args.out,
        None if args.run_dir is None else Path(args.run_dir),
        own=("costs.json", "costs.md"),
    )


def _flag_setting(args):
    """The setting the flags describe (no run)."""
    from ..data import MEDMNIST_TASKS, SYNTHETIC_TASKS, folder_class_names, folder_tasks
    from ..model_costs import CostSetting
    from ..data.tasks import MEDMNIST_TRAIN_SIZES

    defaults = TrainConfig()
    data = args.data or defaults.data
    if data == "folder":
        if args.root is None:
            raise ConfigError("--data folder needs --root, the folder holding the data")
        known = {t: len(folder_class_names(args.root, t)) for t in folder_tasks(args.root)}
    else:
        known = dict(MEDMNIST_TASKS if data == "medmnist" else SYNTHETIC_TASKS)
    tasks = args.tasks or list(known)
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown} for --data {data}; known: {list(known)}")
    samples = None
    if data == "medmnist":
        samples = sum(MEDMNIST_TRAIN_SIZES[t] for t in tasks)

    def pick(name):
        value = getattr(args, name)
        return getattr(defaults, name) if value is None else value

    return CostSetting(
        method=pick("method"),
        student_arch=pick("student_arch"),
        teacher_arch=pick("teacher_arch"),
        tasks=tasks,
        num_classes=[known[t] for t in tasks],
        image_size=args.image_size,
        rank=pick("rank"),
        alpha=pick("alpha"),
        experts_on=pick("experts_on"),
        samples_per_epoch=samples,
    )


def _run_setting(run_dir: Path, root: Optional[str]):
    """A run's setting: its config.json, with its data's facts and its teacher's architecture
    from the costs.json training wrote or, for a run without one, from its training set and
    teacher file."""
    from ..model_costs import CostSetting, run_setting
    from ..training.splits import load_split

    config = run_config(run_dir)
    written = run_dir / "costs.json"
    if written.is_file() and root is None:
        try:
            saved = json.loads(written.read_text())["setting"]
            facts = {
                k: saved[k]
                for k in ("teacher_arch", "tasks", "num_classes", "image_size", "samples_per_epoch")
            }
        except (ValueError, KeyError, TypeError) as err:
            raise RunFolderError(
                f"{written} is not a cost table written by "
                f"lorkd_kernels.train ({type(err).__name__}: {err})"
            ) from None
        return CostSetting(
            method=config.method,
            student_arch=config.student_arch,
            rank=config.rank,
            alpha=config.alpha,
            experts_on=config.experts_on,
            **facts,
        )
    return run_setting(config, load_split(data_config(config, run_dir, root), "train"))


@quiet_interrupt(NAME)
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    run_dir = None if args.run_dir is None else training_run(parser, args.run_dir)
    _check_flags(parser, args)

    from ..data import DataError
    from ..training.checkpoint import CheckpointError

    def costs_command() -> int:
        from .. import model_costs

        setting = _flag_setting(args) if run_dir is None else _run_setting(run_dir, args.root)
        costs = model_costs.count_costs(setting)
        if run_dir is not None:
            model_costs.write_costs(run_dir, costs)
        estimate = None
        if args.gpu_estimate:
            samples = args.samples_per_epoch or setting.samples_per_epoch
            if samples is None:
                raise ConfigError(
                    "--gpu-estimate: pass --samples-per-epoch (only MedMNIST "
                    "tasks have known training-split sizes)"
                )
            estimate = model_costs.epoch_estimate(
                costs, samples, args.peak_tflops, args.utilisation
            )
            costs = {**costs, "gpu_estimate": estimate}
        table = model_costs.format_costs(costs, estimate)
        if args.out is not None:
            write_results(Path(args.out), costs, table)
        print(
            json.dumps(costs, indent=2, sort_keys=True) if args.format == "json" else table,
            flush=True,
        )
        return 0

    return run_command(
        NAME,
        costs_command,
        (RunFolderError, DataError, CheckpointError, OSError),
        debugging(args.debug),
    )


if __name__ == "__main__":
    sys.exit(main())
