"""What a run tells its user: one line per epoch (also as CSV and, when installed, TensorBoard),
and the per-task table of expert vs teacher metrics (also as ``metrics.json``)."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence

from ..atomic_files import atomic_open, write_json

if TYPE_CHECKING:  # TensorBoard is optional: imported when the first epoch is logged
    from torch.utils.tensorboard import SummaryWriter

log = logging.getLogger(__name__)

# "ce" is the classification loss: cross-entropy, or for a multi-label task's samples the binary
# cross-entropy averaged over its labels; "train_acc" counts such a sample as its share of labels
# right at probability 0.5 (pipeline/losses.py, training/objectives.py).
EPOCH_FIELDS = ("stage", "epoch", "loss", "ce", "kd", "train_acc", "lr", "seconds")

# What the table's accuracy and AUC mean for a multi-label task (MedMNIST's, metrics.py).
MULTILABEL_NOTE = (
    "multi-label tasks: accuracy is the mean over labels at probability 0.5, "
    "AUC the mean over labels"
)


class EpochLog:
    """Prints and records one row per epoch (only ever used on rank 0)."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "epochs.csv"
        self.tensorboard = tensorboard
        self.writer: Optional[SummaryWriter] = None

    def _open_tensorboard(self) -> None:
        # On the first epoch, not before: nothing is written until the run has started.
        self.tensorboard = False
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # TensorBoard is optional (the "train" extra installs it)
            return
        self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    def __call__(self, row: Dict) -> None:
        log.info(
            "[%s] epoch %d: loss %.4f (ce %.4f, kd %.4f) train acc %.3f lr %.4g %.1fs",
            row["stage"],
            row["epoch"],
            row["loss"],
            row["ce"],
            row["kd"],
            row["train_acc"],
            row["lr"],
            row["seconds"],
        )
        if self.tensorboard:
            self._open_tensorboard()
        self._record(row)
        if self.writer is not None:
            for key in ("loss", "ce", "kd", "train_acc", "lr"):
                self.writer.add_scalar(f"{row['stage']}/{key}", row[key], row["epoch"])
            self.writer.flush()

    def _record(self, row: Dict) -> None:
        """Add ``row`` to ``epochs.csv``. A resumed run repeats the epochs after its checkpoint
        (the process died before, or while, writing the next one): their rows from the first
        attempt are replaced, so the file reads as one uninterrupted run."""
        kept = []
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as handle:
                kept = [
                    r
                    for r in csv.DictReader(handle)
                    if r["stage"] != row["stage"] or int(r["epoch"]) < row["epoch"]
                ]
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=EPOCH_FIELDS)
        writer.writeheader()
        writer.writerows([*kept, {k: row[k] for k in EPOCH_FIELDS}])
        with atomic_open(self.csv_path) as handle:
            handle.write(text.getvalue().encode())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _mean(values):
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def summarize(
    method: str,
    results: Dict[str, Dict],
    wall_seconds: Optional[float] = None,
    multilabel_tasks: Sequence[str] = (),
) -> Dict:
    """The metrics of every task and their means; ``multilabel_tasks`` (listed in the summary
    only when there are some) names the tasks whose metrics are ``multilabel_metrics``."""
    roles = sorted({role for per_task in results.values() for role in per_task})
    mean = {
        role: {
            metric: _mean([r[role][metric] for r in results.values() if role in r])
            for metric in ("accuracy", "auc")
        }
        for role in roles
    }
    summary: Dict[str, Any] = {"method": method, "tasks": results, "mean": mean}
    if multilabel_tasks:
        summary["multilabel_tasks"] = list(multilabel_tasks)
    if wall_seconds is not None:
        summary["wall_seconds"] = round(wall_seconds, 1)
    return summary


def write_metrics(
    run_dir: Path,
    method: str,
    results: Dict[str, Dict],
    wall_seconds: Optional[float] = None,
    multilabel_tasks: Sequence[str] = (),
) -> Dict:
    """Write ``metrics.json`` (atomically) and ``metrics.csv``; return the summary."""
    summary = summarize(method, results, wall_seconds, multilabel_tasks)
    write_json(Path(run_dir) / "metrics.json", summary)
    with (Path(run_dir) / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "role", "accuracy", "auc", "samples"])
        for task, per_role in results.items():
            for role, m in per_role.items():
                writer.writerow(
                    [task, role, f"{m['accuracy']:.4f}", f"{m['auc']:.4f}", m["samples"]]
                )
    return summary


def format_table(summary: Dict) -> str:
    """A markdown table: per task, the expert's and the teacher's accuracy and AUC (a
    multi-label task marked so, with a note on what its metrics mean)."""
    lines = [
        f"method: {summary['method']}",
        "| task | samples | expert acc | expert AUC | teacher acc | teacher AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]

    def cells(per_role: Dict) -> str:
        out = []
        for role in ("expert", "teacher"):
            m = per_role.get(role)
            out += ["—", "—"] if m is None else [f"{m['accuracy']:.3f}", f"{m['auc']:.3f}"]
        return " | ".join(out)

    multilabel = set(summary.get("multilabel_tasks", ()))
    for task, per_role in summary["tasks"].items():
        samples = next(iter(per_role.values()))["samples"]
        mark = " (multi-label)" if task in multilabel else ""
        lines.append(f"| {task}{mark} | {samples} | {cells(per_role)} |")
    lines.append(f"| **mean** | | {cells(summary['mean'])} |")
    if multilabel:
        lines.append(MULTILABEL_NOTE)
    if "wall_seconds" in summary:
        lines.append(f"wall time: {summary['wall_seconds']:.0f} s")
    return "\n".join(lines)
