"""Which runs make up the comparison: its rows (methods and ablations), seeds and budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Row:
    """One row of the comparison table: a method (or an ablation of LoRKD) and its flags."""

    name: str
    method: str
    flags: Tuple[str, ...] = ()
    # None: the learning rate is chosen on validation data from the grid; else the row reuses
    # the learning rate chosen for that row (an ablation changes one part of LoRKD, not its
    # tuning).
    lr_from: Optional[str] = None
    # Student epochs as a multiple of the budget's: STL at equal optimizer steps trains each
    # single-task student for as many steps as the multi-task students take (tasks are the same
    # size, so T times the epochs).
    epochs_per_task: bool = False
    ablation: bool = False
    note: str = ""


METHOD_ROWS = (
    Row(
        "lorkd", "lorkd", note="one student, an expert per task, logit KD (beta 1), all convs, r 4"
    ),
    Row("mtl-kd", "mtl-kd", note="one shared student distilled from the teacher"),
    Row("mtl", "mtl", note="one shared student"),
    Row("stl-kd", "stl-kd", note="one student per task distilled from the teacher"),
    Row("stl", "stl", note="one student per task, equal epochs (1/T of the steps)"),
    Row(
        "stl-steps",
        "stl",
        lr_from="stl",
        epochs_per_task=True,
        note="one student per task, equal optimizer steps (T x the epochs)",
    ),
)

ABLATION_ROWS = (
    Row(
        "lorkd beta=0",
        "lorkd",
        ("--beta", "0"),
        lr_from="lorkd",
        ablation=True,
        note="no task knowledge transfer loss",
    ),
    Row(
        "lorkd dense",
        "lorkd",
        ("--experts-on", "dense"),
        lr_from="lorkd",
        ablation=True,
        note="experts only on groups=1 convs",
    ),
    Row(
        "lorkd released",
        "lorkd",
        ("--experts-on", "dense", "--beta", "0"),
        lr_from="lorkd",
        ablation=True,
        note="the released code: dense convs, KD weight 0",
    ),
    Row(
        "lorkd kd=features",
        "lorkd",
        ("--kd-on", "features"),
        lr_from="lorkd",
        ablation=True,
        note="KD on projected features",
    ),
    Row(
        "lorkd kd=both",
        "lorkd",
        ("--kd-on", "both"),
        lr_from="lorkd",
        ablation=True,
        note="KD on logits and features",
    ),
    Row(
        "lorkd r=2",
        "lorkd",
        ("--rank", "2"),
        lr_from="lorkd",
        ablation=True,
        note="rank 2 (alpha 16 kept, as peft does)",
    ),
    Row(
        "lorkd r=8",
        "lorkd",
        ("--rank", "8"),
        lr_from="lorkd",
        ablation=True,
        note="rank 8 (alpha 16 kept)",
    ),
)

ROWS = METHOD_ROWS + ABLATION_ROWS
BASELINES = tuple(row.name for row in METHOD_ROWS if row.name != "lorkd")


@dataclass(frozen=True)
class Budget:
    """The shared settings of every run: the built-in benchmark shrunk to fit the CPU budget."""

    seeds: Tuple[int, ...] = (0, 1, 2)
    lrs: Tuple[float, ...] = (0.003, 0.01, 0.03)
    synthetic_samples: int = 480
    epochs: int = 8
    teacher_epochs: int = 6
    tasks: Optional[Tuple[str, ...]] = None  # None: every task of the built-in benchmark
    extra: Tuple[str, ...] = ()

    def train_flags(self) -> List[str]:
        tasks = ["--tasks", *self.tasks] if self.tasks else []
        return [
            "--synthetic-samples",
            str(self.synthetic_samples),
            "--teacher-epochs",
            str(self.teacher_epochs),
            *tasks,
            *self.extra,
        ]

    def task_count(self) -> int:
        from ..data import SYNTHETIC_TASKS

        return len(self.tasks or SYNTHETIC_TASKS)


FULL = Budget()
# Every row and seed of the full grid at toy size: checks the machinery, not the methods.
QUICK = Budget(
    lrs=(0.01, 0.03),
    synthetic_samples=24,
    epochs=1,
    teacher_epochs=1,
    tasks=("tissue", "blood"),
    extra=(
        "--image-size",
        "16",
        "--teacher-arch",
        "resnet18",
        "--student-arch",
        "shufflenet_v2_x0_5",
        "--batch-size",
        "16",
        "--eval-batch-size",
        "64",
    ),
)


@dataclass
class Run:
    """One training run of the grid."""

    row: Row
    seed: int
    lr: float
    selecting: bool = False  # part of the learning-rate search (seed 0 only)
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = f"{self.row.name}|seed={self.seed}|lr={self.lr:g}"


def tuned_rows() -> List[Row]:
    return [row for row in ROWS if row.lr_from is None]


def selection_runs(budget: Budget) -> List[Run]:
    """The learning-rate search: every tuned row at every grid value, on the first seed."""
    return [
        Run(row, budget.seeds[0], lr, selecting=True) for row in tuned_rows() for lr in budget.lrs
    ]


def final_runs(budget: Budget, chosen_lr: Dict[str, float]) -> List[Run]:
    """Every row at every seed with its chosen learning rate (the search's runs are reused)."""
    runs = []
    for row in ROWS:
        lr = chosen_lr[row.lr_from or row.name]
        runs += [Run(row, seed, lr) for seed in budget.seeds]
    return runs
