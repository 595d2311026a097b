"""What a run tells its user: one line per epoch (also as CSV and, when installed, TensorBoard),
and the per-task table of expert vs teacher metrics (also as ``metrics.json``)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Dict, Optional

from ..atomic_files import atomic_open, write_json

EPOCH_FIELDS = ("stage", "epoch", "loss", "ce", "kd", "train_acc", "lr", "seconds")


class EpochLog:
    """Prints and records one row per epoch (only ever used on rank 0)."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.csv_path = Path(run_dir) / "epochs.csv"
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(Path(run_dir) / "tensorboard"))
            except ImportError:      # TensorBoard is optional
                self.writer = None

    def __call__(self, row: Dict) -> None:
        print(f"[{row['stage']}] epoch {row['epoch']}: loss {row['loss']:.4f} "
              f"(ce {row['ce']:.4f}, kd {row['kd']:.4f}) train acc {row['train_acc']:.3f} "
              f"lr {row['lr']:.4g} {row['seconds']:.1f}s", flush=True)
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
                kept = [r for r in csv.DictReader(handle)
                        if r["stage"] != row["stage"] or int(r["epoch"]) < row["epoch"]]
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


def summarize(method: str, results: Dict[str, Dict], wall_seconds: Optional[float] = None
              ) -> Dict:
    roles = sorted({role for per_task in results.values() for role in per_task})
    mean = {role: {metric: _mean([r[role][metric] for r in results.values() if role in r])
                   for metric in ("accuracy", "auc")} for role in roles}
    summary = {"method": method, "tasks": results, "mean": mean}
    if wall_seconds is not None:
        summary["wall_seconds"] = round(wall_seconds, 1)
    return summary


def write_metrics(run_dir: Path, method: str, results: Dict[str, Dict],
                  wall_seconds: Optional[float] = None) -> Dict:
    """Write ``metrics.json`` (atomically) and ``metrics.csv``; return the summary."""
    summary = summarize(method, results, wall_seconds)
    write_json(Path(run_dir) / "metrics.json", summary)
    with (Path(run_dir) / "metrics.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["task", "role", "accuracy", "auc", "samples"])
        for task, per_role in results.items():
            for role, m in per_role.items():
                writer.writerow([task, role, f"{m['accuracy']:.4f}", f"{m['auc']:.4f}",
                                 m["samples"]])
    return summary


def format_table(summary: Dict) -> str:
    """A markdown table: per task, the expert's and the teacher's accuracy and AUC."""
    lines = [f"method: {summary['method']}",
             "| task | samples | expert acc | expert AUC | teacher acc | teacher AUC |",
             "|---|---:|---:|---:|---:|---:|"]

    def cells(per_role: Dict) -> str:
        out = []
        for role in ("expert", "teacher"):
            m = per_role.get(role)
            out += ["—", "—"] if m is None else [f"{m['accuracy']:.3f}", f"{m['auc']:.3f}"]
        return " | ".join(out)

    for task, per_role in summary["tasks"].items():
        samples = next(iter(per_role.values()))["samples"]
        lines.append(f"| {task} | {samples} | {cells(per_role)} |")
    lines.append(f"| **mean** | | {cells(summary['mean'])} |")
    if "wall_seconds" in summary:
        lines.append(f"wall time: {summary['wall_seconds']:.0f} s")
    return "\n".join(lines)
