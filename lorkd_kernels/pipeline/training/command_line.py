"""The training command line: flags, ``--config FILE``, ``--resume``'s settings, and the
checks before any work starts (all as usage errors: one line, exit status 2).

Where a setting comes from, later winning: the defaults (:class:`TrainConfig`), the preset
(``--preset``, presets.py), the saved ``DIR/config.json`` with ``--resume``, the ``--config``
file, the flags given. With ``--micro-batch-size`` and no ``--grad-accum`` from any of the last
three, ``--grad-accum`` is derived from it.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Sequence, Set, Tuple

from ... import __version__
from ..cli.common import COMMAND_FLAGS, CommandParser, DefaultsFormatter, add_command_flags
from .config import (
    DATA_SOURCES,
    EXPERTS_ON,
    KD_TARGETS,
    METHODS,
    MODEL_NAMES,
    ConfigError,
    TrainConfig,
    accumulation_steps,
    validate,
    world_size,
)
from .presets import PRESET_NAMES, preset_values
from .schedule import LR_SCHEDULES
from .run_folder import check_new_run, resume_mismatches, saved_settings
from .settings_file import read_settings

NAME = "lorkd_kernels.train"


def build_parser(defaults: Optional[TrainConfig] = TrainConfig()) -> argparse.ArgumentParser:
    """The command line; with ``defaults=None`` it reports only the flags given."""
    p = CommandParser(
        name=NAME,
        argument_default=None if defaults is not None else argparse.SUPPRESS,
        description="LoRKD: train a multi-task teacher, distil it into a student with one "
        "low-rank expert per task, decompose the experts into plain models and "
        "evaluate them. With no arguments it runs on the built-in synthetic "
        "benchmark on CPU.",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="read settings from FILE (JSON, or YAML with PyYAML installed; the keys "
        "of a run's config.json, which can be re-run as is); flags override",
    )
    p.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help="demo: a CPU demonstration on the built-in benchmark (the defaults "
        "shown here); official: the paper's released code (ShuffleNetV2 "
        "student, ResNet-50 teacher from --teacher-ckpt or --teacher-backbone, "
        "224 px, batch 1024, 100 epochs); paper: official with the transfer "
        "loss on (beta 1). Flags given override the preset's values",
    )
    g = p.add_argument_group("method")
    g.add_argument(
        "--method",
        choices=METHODS,
        help="lorkd, or a baseline: stl (one student per task), mtl (one shared "
        "student), and their -kd variants distilled from the teacher",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        choices=DATA_SOURCES,
        help="built-in synthetic benchmark, MedMNIST .npz files, image folders "
        "root/<task>/<split>/<class>/*, or RadImageNet's 11 tasks (list files "
        "or root/<split>/<class>/*)",
    )
    g.add_argument(
        "--root",
        help="data folder (required for medmnist/folder/radimagenet; for synthetic: "
        "where the "
        "benchmark is generated, default DIR/synthetic)",
    )
    g.add_argument("--tasks", nargs="+", help="task names (default: all tasks of the data source)")
    g.add_argument(
        "--image-size", type=int, help="resize images to this size (default: keep the files' size)"
    )
    g.add_argument(
        "--medmnist-size",
        type=int,
        help="pick <task>_<size>.npz when several MedMNIST sizes are present",
    )
    g.add_argument(
        "--train-list",
        metavar="FILE",
        help="RadImageNet's train list ('relative/path label' lines; default "
        "ROOT/rad_train_shuffled.txt); val is a fixed 1/20 of it",
    )
    g.add_argument(
        "--test-list", metavar="FILE", help="RadImageNet's test list (default ROOT/rad_test.txt)"
    )
    g.add_argument(
        "--synthetic-samples",
        type=int,
        help="training images per task of the synthetic benchmark (its val and test "
        "splits get a quarter and a half as many)",
    )
    g.add_argument(
        "--balanced",
        action="store_true",
        help="sample every task equally often instead of in proportion to its size",
    )
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="turn off random horizontal flips during training",
    )
    g = p.add_argument_group("teacher (the multi-task foundation model)")
    g.add_argument(
        "--teacher-arch",
        choices=MODEL_NAMES,
        help="the teacher's architecture (shared backbone, one head per task)",
    )
    g.add_argument(
        "--teacher-ckpt",
        help="load a trained teacher (DIR/teacher.pt of an earlier run) instead of training one",
    )
    g.add_argument(
        "--teacher-backbone",
        help="initialise the teacher's backbone from a checkpoint (e.g. RadImageNet "
        "ResNet-50 'notop', torchvision or timm layout) before training it",
    )
    g.add_argument(
        "--teacher-epochs",
        type=int,
        help="epochs of teacher training (0 keeps its initial weights)",
    )
    g.add_argument(
        "--teacher-lr", type=float, help="the teacher's peak learning rate (cosine schedule)"
    )
    g = p.add_argument_group("student")
    g.add_argument(
        "--student-arch",
        choices=MODEL_NAMES,
        help="the student's architecture (and so every deployed expert's)",
    )
    g.add_argument(
        "--experts-on",
        choices=EXPERTS_ON,
        help="'dense' puts experts only on groups=1 convs, as the paper's code does",
    )
    g.add_argument("--rank", type=int, help="rank of every expert")
    g.add_argument("--alpha", type=float, help="expert scaling is alpha / rank")
    g.add_argument("--epochs", type=int, help="epochs of student training")
    g.add_argument(
        "--lr", type=float, help="the student's peak learning rate (SGD, cosine schedule)"
    )
    g.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULES,
        help="cosine decay of every stage's learning rate, updated at every step or once per epoch",
    )
    g.add_argument(
        "--warmup-fraction",
        type=float,
        help="share of each stage's steps with a linear learning-rate warm-up (0: none)",
    )
    g.add_argument("--momentum", type=float, help="SGD momentum")
    g.add_argument("--weight-decay", type=float, help="SGD weight decay")
    g.add_argument("--temperature", type=float, help="distillation temperature tau")
    g.add_argument("--beta", type=float, help="weight of the distillation term beta * tau^2 * KL")
    g.add_argument(
        "--kd-on",
        choices=KD_TARGETS,
        help="distil logits, features (teacher features projected to the student's width), or both",
    )
    g = p.add_argument_group("run")
    g.add_argument("--out", help="output folder DIR")
    g.add_argument(
        "--batch-size", type=int, help="global batch size (split over processes and --grad-accum)"
    )
    g.add_argument("--grad-accum", type=int, help="micro-batches per optimiser step")
    g.add_argument(
        "--micro-batch-size",
        type=int,
        help="at most this many samples per process at once: --grad-accum is "
        "derived from it (the batch a device can hold; the global "
        "--batch-size is kept)",
    )
    g.add_argument(
        "--eval-batch-size",
        type=int,
        help="batch size of evaluation (every test sample is evaluated)",
    )
    g.add_argument("--workers", type=int, help="data loader processes")
    g.add_argument(
        "--device", help="auto, cpu, cuda or cuda:N (under torchrun: each rank's local GPU)"
    )
    g.add_argument("--amp", choices=("none", "bf16"), help="bf16 autocast for training")
    g.add_argument("--seed", type=int, help="CPU runs are reproducible")
    g.add_argument(
        "--resume",
        action="store_true",
        help="continue from DIR's checkpoints exactly where the run stopped; flags "
        "left out take the run's values from DIR/config.json, flags given must "
        "match them",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an --out folder that holds an earlier run (only the "
        "run's own outputs are removed)",
    )
    g.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        help="progress bars (auto: only on a terminal, only on rank 0)",
    )
    add_command_flags(p, __version__)
    if defaults is not None:
        p.set_defaults(**defaults.to_json())
    return p


def _preset_name(requested: Dict[str, Any], saved: Dict[str, Any]) -> str:
    # A config.json written before presets existed holds the demo's settings.
    name = requested.get("preset", saved.get("preset", TrainConfig.preset))
    if name not in PRESET_NAMES:
        raise ConfigError(f"--preset {name!r}: choose from {', '.join(PRESET_NAMES)}")
    return name


def _derive_grad_accum(values: Dict[str, Any], given: Set[str]) -> None:
    """--micro-batch-size without a --grad-accum of the user's (flag, file or resumed run):
    the fewest accumulation steps that keep within it. A --grad-accum given is checked
    against it by validate()."""
    micro, batch = values["micro_batch_size"], values["batch_size"]
    if (
        "grad_accum" in given
        or not isinstance(micro, int)
        or not isinstance(batch, int)
        or micro < 1
        or batch < 1
    ):
        return  # nothing to derive, or numbers validate() refuses by name
    values["grad_accum"] = accumulation_steps(batch, micro, world_size())


def _settings(explicit: Dict[str, Any], config_file: Optional[str]) -> TrainConfig:
    defaults = TrainConfig()
    requested = dict(read_settings(config_file)) if config_file else {}
    requested.update(explicit)
    if requested.get("resume") and requested.get("overwrite"):
        raise ConfigError("--resume and --overwrite contradict each other")
    saved: Dict[str, Any] = {}
    out = requested.get("out", defaults.out)
    if requested.get("resume"):
        saved = saved_settings(out)
        mismatched = resume_mismatches(saved, requested, defaults)
        if mismatched:
            raise ConfigError(
                f"--resume: the run in {out!r} was started with other settings: "
                f"{'; '.join(mismatched)}. Leave these flags out to resume with "
                f"the run's settings, or start a new --out"
            )
    values = defaults.to_json()
    values.update(preset_values(_preset_name(requested, saved)))
    if saved:
        values.update(saved, out=out)  # the folder resumed from, even if it was moved
    values.update(requested)
    _derive_grad_accum(values, set(requested) | set(saved))
    return TrainConfig(**values)


def parse_command(argv: Optional[Sequence[str]] = None) -> Tuple[TrainConfig, argparse.Namespace]:
    """The run's settings and the command's own flags (--debug, --quiet, ...); a usage error
    exits with status 2 before anything is read or written but the settings files."""
    parser = build_parser()
    command = parser.parse_args(argv)
    explicit = vars(build_parser(None).parse_args(argv))
    for name in COMMAND_FLAGS:
        explicit.pop(name, None)
    try:
        config = validate(_settings(explicit, command.config))
        if not config.resume:
            check_new_run(config)
    except ConfigError as err:
        parser.error(str(err))
    return config, command


def parse_args(argv: Optional[Sequence[str]] = None) -> TrainConfig:
    """The run's settings from a command line (usage errors exit with status 2)."""
    return parse_command(argv)[0]
