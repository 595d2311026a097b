"""The pipeline's settings: one dataclass and the checks that run before any work starts.

Nothing here imports torch or the data and model packages at load time: the command line is
built from this module, and ``--help`` must answer without them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, cast

from .presets import NEED_PRETRAINED_TEACHER, PRESET_NAMES
from .schedule import LR_SCHEDULES

METHODS = ("lorkd", "stl", "mtl", "stl-kd", "mtl-kd")
KD_TARGETS = ("logits", "features", "both")

# Copies of names whose registries import torch, so that the command line loads without it;
# tests/pipeline/training/test_config.py checks each copy against its registry.
MODEL_NAMES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
)  # pipeline.models.MODELS
DATA_SOURCES = ("synthetic", "medmnist", "folder", "radimagenet")  # pipeline.data.SOURCES
EXPERTS_ON = ("all", "dense")  # lorkd_kernels.conversion

# Settings of one invocation, not of the run: never saved in config.json.
INVOCATION_SETTINGS = ("resume", "overwrite")
# Settings a resumed run may change: where things are read from and written to, and how the
# run is watched; every other setting decides the weights and must match the saved run.
RESUMABLE_CHANGES = ("out", "device", "workers", "progress", "eval_batch_size")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the flag (or file)."""


@dataclass
class TrainConfig:
    """Everything one run depends on (saved as ``DIR/config.json``). The defaults are the
    ``demo`` preset's (see presets.py)."""

    preset: str = "demo"
    method: str = "lorkd"
    data: str = "synthetic"
    root: Optional[str] = None
    tasks: Optional[List[str]] = None
    image_size: Optional[int] = None
    medmnist_size: Optional[int] = None
    train_list: Optional[str] = None  # RadImageNet list files when not in --root
    test_list: Optional[str] = None
    synthetic_samples: int = 960
    out: str = "runs/lorkd"
    # ResNet-18 rather than the paper's ResNet-50: on the built-in 32x32 benchmark ResNet-50
    # costs 3x per epoch and learns slower (see the README); --teacher-arch resnet50 for it.
    teacher_arch: str = "resnet18"
    teacher_ckpt: Optional[str] = None
    teacher_backbone: Optional[str] = None
    teacher_epochs: int = 6
    teacher_lr: float = 0.01
    student_arch: str = "shufflenet_v2_x1_0"
    experts_on: str = "all"
    rank: int = 4
    alpha: float = 16.0
    epochs: int = 8
    batch_size: int = 64
    grad_accum: int = 1
    # The most samples one process computes at once; None: batch_size / processes / grad_accum.
    # When set, grad_accum is derived from it unless given (see command_line.py).
    micro_batch_size: Optional[int] = None
    # The paper's code uses 0.05 at batch 1024 (the official preset). Demo's 0.01 was picked on
    # the built-in benchmark; the method comparison chooses each method's rate on the validation
    # split instead (LoRKD's: 0.003 at 480 images per task, docs/comparison/comparison.md).
    lr: float = 0.01
    lr_schedule: str = "cosine-step"
    # A 10% linear warm-up: freshly initialised BatchNorm networks on the 32x32 benchmark
    # diverge in their first steps at the full learning rate without it.
    warmup_fraction: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    temperature: float = 10.0
    beta: float = 1.0
    kd_on: str = "logits"
    balanced: bool = False
    augment: bool = True
    eval_batch_size: int = 256
    workers: int = 0
    device: str = "auto"
    amp: str = "none"
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    progress: str = "auto"

    @property
    def uses_teacher_kd(self) -> bool:
        return self.method in ("lorkd", "stl-kd", "mtl-kd")

    @property
    def single_task(self) -> bool:
        return self.method in ("stl", "stl-kd")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def run_settings(self) -> dict:
        """What ``config.json`` holds: every setting but those of one invocation."""
        return {k: v for k, v in self.to_json().items() if k not in INVOCATION_SETTINGS}

    @classmethod
    def from_json(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def setting_names() -> List[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def flag(name: str) -> str:
    """The command-line flag of a setting."""
    return "--" + name.replace("_", "-")


def _known_tasks(config: TrainConfig) -> Sequence[str]:
    from ..data import (
        MEDMNIST_2D_TASKS,
        RADIMAGENET_TASKS,
        SYNTHETIC_TASKS,
        DataError,
        folder_tasks,
    )

    if config.data == "synthetic":
        return list(SYNTHETIC_TASKS)
    if config.data == "medmnist":
        return list(MEDMNIST_2D_TASKS)
    if config.data == "radimagenet":
        return list(RADIMAGENET_TASKS)
    try:
        return folder_tasks(cast(str, config.root))  # validate() checked it was given
    except DataError as err:
        raise ConfigError(f"--root {config.root!r}: {err}") from err


def world_size() -> int:
    """Processes of this run (``torchrun`` sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_device(requested: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (a GPU that exists), or another torch device."""
    if requested == "auto":
        return
    import torch

    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(
            f"--device {requested!r} is not a device: use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {requested}: torch sees no CUDA GPU on this machine "
                f"(use --device cpu or auto)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {requested}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {requested}: MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {requested!r}: the pipeline runs on cpu, cuda or mps")


def check_fits_one_batch(task_sizes: Sequence[int], config: TrainConfig) -> None:
    """Every training stage needs at least one full batch per epoch (batches are never short:
    a short last batch would weigh its samples differently in each process)."""
    stages = list(task_sizes) if config.single_task else [sum(task_sizes)]
    shards = world_size() * config.grad_accum
    smallest = min(stages)
    if smallest // shards < config.batch_size // shards:
        what = "the smallest task has" if config.single_task else "the training set has"
        raise ConfigError(
            f"--batch-size {config.batch_size}: {what} only {smallest} samples, "
            f"fewer than one batch; lower --batch-size or use more data"
        )


def check_out_path(out: str) -> None:
    """``--out`` must be a folder, or a path where one can be made."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {out!r} exists and is not a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out!r}: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out!r}: no permission to write in {str(parent)!r}")


#: the numeric settings by kind: whole numbers (bool refused) and finite real numbers
INTEGER_SETTINGS = (
    "teacher_epochs",
    "epochs",
    "batch_size",
    "grad_accum",
    "eval_batch_size",
    "rank",
    "synthetic_samples",
    "workers",
    "seed",
    "micro_batch_size",
    "image_size",
    "medmnist_size",
)
REAL_SETTINGS = (
    "lr",
    "teacher_lr",
    "temperature",
    "alpha",
    "beta",
    "momentum",
    "weight_decay",
    "warmup_fraction",
)
#: seeds numpy's global generator accepts (training/rng.py seeds it with the run's seed)
SEED_RANGE = (0, 2**32 - 1)


def _check_types(config: TrainConfig) -> None:
    """Every numeric setting has its kind (flags, --config and config.json alike): an integer
    setting is an int, not a bool or a float; a real one is a finite int or float."""
    for name in INTEGER_SETTINGS:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{flag(name)} must be a whole number, got {value!r}")
    for name in REAL_SETTINGS:
        value = getattr(config, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{flag(name)} must be a finite number, got {value!r}")
    low, high = SEED_RANGE
    if not low <= config.seed <= high:
        raise ConfigError(f"--seed must be in [{low}, {high}], got {config.seed}")


def _check_numbers(config: TrainConfig) -> None:
    _check_types(config)
    if config.micro_batch_size is not None and config.micro_batch_size < 1:
        raise ConfigError(f"--micro-batch-size must be positive, got {config.micro_batch_size}")
    minimum = {
        "teacher_epochs": 0,
        "epochs": 1,
        "batch_size": 1,
        "grad_accum": 1,
        "eval_batch_size": 1,
        "rank": 1,
        "synthetic_samples": 1,
    }
    for name, least in minimum.items():
        if getattr(config, name) < least:
            raise ConfigError(
                f"{flag(name)} must be {'positive' if least else '>= 0'}, got "
                f"{getattr(config, name)}"
            )
    for name in ("lr", "teacher_lr", "temperature", "alpha"):
        if not getattr(config, name) > 0:
            raise ConfigError(f"{flag(name)} must be > 0, got {getattr(config, name)}")
    for name in ("beta", "momentum", "weight_decay", "workers"):
        if not getattr(config, name) >= 0:
            raise ConfigError(f"{flag(name)} must be >= 0, got {getattr(config, name)}")
    if not 0 <= config.warmup_fraction < 1:
        raise ConfigError(f"--warmup-fraction must be in [0, 1), got {config.warmup_fraction}")
    if config.image_size is not None and config.image_size < 8:
        raise ConfigError(f"--image-size must be at least 8, got {config.image_size}")
    shards = world_size() * config.grad_accum
    if config.batch_size % shards:
        raise ConfigError(
            f"--batch-size {config.batch_size} must be divisible by the number of "
            f"processes × --grad-accum = {shards}"
        )
    _check_micro_batch(config)


def accumulation_steps(batch_size: int, micro_batch_size: int, processes: int) -> int:
    """The fewest micro-batches per optimiser step that split ``batch_size`` evenly over the
    processes with at most ``micro_batch_size`` samples each (the value of --grad-accum that
    --micro-batch-size implies)."""
    for accum in range(1, batch_size + 1):
        shards = processes * accum
        if batch_size % shards == 0 and batch_size // shards <= micro_batch_size:
            return accum
    raise ConfigError(
        f"--batch-size {batch_size} cannot be split evenly over {processes} "
        f"process(es) in micro-batches of at most --micro-batch-size "
        f"{micro_batch_size}"
    )


def _check_micro_batch(config: TrainConfig) -> None:
    """A --grad-accum given together with --micro-batch-size must keep within it."""
    if config.micro_batch_size is None:
        return
    micro = config.batch_size // (world_size() * config.grad_accum)
    if micro > config.micro_batch_size:
        raise ConfigError(
            f"--grad-accum {config.grad_accum} gives micro-batches of {micro} "
            f"samples per process, more than --micro-batch-size "
            f"{config.micro_batch_size}; leave --grad-accum out to derive it"
        )


def _check_choices(config: TrainConfig) -> None:
    choices = {
        "preset": PRESET_NAMES,
        "method": METHODS,
        "data": DATA_SOURCES,
        "teacher_arch": MODEL_NAMES,
        "student_arch": MODEL_NAMES,
        "lr_schedule": LR_SCHEDULES,
        "experts_on": EXPERTS_ON,
        "kd_on": KD_TARGETS,
        "amp": ("none", "bf16"),
        "progress": ("auto", "on", "off"),
    }
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(
                f"{flag(name)} {getattr(config, name)!r}: choose from {', '.join(allowed)}"
            )


def check_pretrained_teacher(config: TrainConfig) -> None:
    """The official and paper presets distil a pretrained ResNet-50, which is never downloaded:
    one of the two teacher checkpoints must be given."""
    if (
        config.preset in NEED_PRETRAINED_TEACHER
        and config.teacher_ckpt is None
        and config.teacher_backbone is None
    ):
        raise ConfigError(
            f"--preset {config.preset} needs a pretrained teacher: give "
            f"--teacher-ckpt (a trained teacher.pt) or --teacher-backbone (a "
            f"RadImageNet or torchvision ResNet-50 checkpoint); nothing is "
            f"downloaded"
        )


def validate(config: TrainConfig) -> TrainConfig:
    """Check what can be checked before any work starts; raise ConfigError naming the flag."""
    _check_choices(config)
    _check_numbers(config)
    if config.data in ("medmnist", "folder", "radimagenet"):
        if config.root is None:
            raise ConfigError(f"--data {config.data} needs --root, the folder holding the data")
    if config.root is not None and config.data != "synthetic" and not Path(config.root).is_dir():
        raise ConfigError(f"--root {config.root!r} is not a folder")
    if config.data != "radimagenet" and (config.train_list or config.test_list):
        raise ConfigError(
            f"--train-list/--test-list apply to --data radimagenet, not {config.data}"
        )
    check_pretrained_teacher(config)
    for name in ("teacher_ckpt", "teacher_backbone", "train_list", "test_list"):
        path = getattr(config, name)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{flag(name)} {path!r} does not exist")
    known = list(_known_tasks(config))
    if config.tasks is not None:
        unknown = [t for t in config.tasks if t not in known]
        if unknown:
            raise ConfigError(f"unknown task(s) {unknown} for --data {config.data}; known: {known}")
        if len(set(config.tasks)) != len(config.tasks):
            raise ConfigError(f"--tasks lists a task twice: {config.tasks}")
    if config.data == "synthetic":  # sizes known before the benchmark is generated
        check_fits_one_batch([config.synthetic_samples] * len(config.tasks or known), config)
    if config.progress == "on" and importlib.util.find_spec("tqdm") is None:
        raise ConfigError(
            "--progress on needs tqdm, which is not installed (pip install tqdm, "
            "or use --progress auto)"
        )
    check_out_path(config.out)
    check_device(config.device)
    return config


def default_synthetic_root(config: TrainConfig) -> str:
    """Where the built-in benchmark of this run lives: drawn from the run's seed (each seed its
    own data), in a folder of that seed under ``--root`` or the run's ``synthetic`` folder, so
    runs of different seeds sharing a root never read each other's files."""
    return os.path.join(config.root or os.path.join(config.out, "synthetic"), f"seed{config.seed}")
