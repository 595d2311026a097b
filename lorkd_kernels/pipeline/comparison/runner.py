"""Train the grid's runs and record every per-seed, per-task number in one JSON file.

The JSON is rewritten (atomically) after every run and a rerun of the same command skips the
runs it already holds, so an interrupted comparison continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..atomic_files import write_json
from ..data.synthetic import GENERATOR_VERSION
from ..evaluation import evaluate_run
from ..training import artifacts
from ..training.config import TrainConfig
from ..training.splits import load_split
from . import grid, stats

# Trains one run: the flags of `python -m lorkd_kernels.train`; returns its exit status.
Train = Callable[[List[str]], int]


class ComparisonError(RuntimeError):
    """A run of the grid failed; the message names it."""


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpuinfo() -> Dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _machine() -> Dict[str, object]:
    """What the wall times were measured on (they mean little without it), and what decides
    whether a rerun can give the same bits: the CPU model, the instruction set torch's kernels
    dispatch to, torch's version and its thread count."""
    import os
    import platform

    import torch

    cpu = _cpuinfo()
    cpu_id = " ".join(
        cpu[name] if name == "vendor_id" else f"{name.split()[-1]} {cpu[name]}"
        for name in ("vendor_id", "cpu family", "model", "stepping")
        if name in cpu
    )
    return {
        "platform": platform.platform(),
        "processor": cpu.get("model name") or platform.processor() or "unknown",
        # one model name covers several generations (a virtual machine may show "AMD EPYC")
        "cpu_id": cpu_id or "unknown",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


#: what must match for CPU training to repeat bit for bit: the library's version and the machine
_SAME_BITS = ("commit", "processor", "cpu_id", "cpu_capability", "torch", "torch_threads")
#: how far a rerun on another machine or version may land from the recorded test numbers
#: (absolute, per task, accuracy and AUC): floating-point rounding differs across CPUs,
#: instruction sets and the library's kernels, and training amplifies it
#: (docs/comparison/reproduction.md)
CROSS_MACHINE_TOLERANCE = 0.1


def bits_may_differ(recorded: Dict, here: Dict) -> List[str]:
    """Why a rerun here may not repeat ``recorded``'s bits: the fields of :data:`_SAME_BITS` (and
    the commit) that differ or that either side does not know; empty when it should repeat."""
    return [
        field
        for field in _SAME_BITS
        if recorded.get(field) in (None, "unknown") or recorded.get(field) != here.get(field)
    ]


def _val_metrics(run_dir: Path) -> Dict[str, Dict]:
    """The experts' metrics on the validation split (what the learning rate is chosen on)."""
    config = TrainConfig.from_json(json.loads((run_dir / "config.json").read_text()))
    val_set = load_split(config, "val")
    experts = [artifacts.load_expert(run_dir, name) for name in val_set.task_names]
    results = evaluate_run(experts, None, val_set, config.eval_batch_size)
    return {task: per_role["expert"] for task, per_role in results.items()}


class Comparison:
    """The state of one comparison: where it lives, its budget, and the runs done so far."""

    def __init__(
        self, out: Path, budget: grid.Budget, train: Train, command: str, keep_runs: bool = False
    ) -> None:
        self.out, self.budget, self.train = Path(out), budget, train
        self.keep_runs = keep_runs
        self.json_path = self.out / "comparison.json"
        self.data_root = self.out / "data"  # one generated benchmark for every run
        if self.json_path.is_file():
            self.record = json.loads(self.json_path.read_text())
            if self.record["budget"] != _budget_json(budget):
                raise ComparisonError(
                    f"{self.json_path} was made with another budget; choose another --out"
                )
        else:
            self.record = {
                "command": command,
                "commit": _commit(),
                "machine": _machine(),
                "synthetic_generator": GENERATOR_VERSION,
                "budget": _budget_json(budget),
                "runs": {},
                "wall_seconds": 0.0,
            }

    # ------------------------------------------------------------------ one run
    def _run_dir(self, run: grid.Run) -> Path:
        safe = run.key.replace("|", "_").replace("=", "-").replace(" ", "_")
        return self.out / "runs" / safe

    def _teacher(self, seed: int) -> Optional[Path]:
        path = self.out / "teachers" / f"seed{seed}.pt"
        return path if path.is_file() else None

    def _flags(self, run: grid.Run, run_dir: Path) -> List[str]:
        budget = self.budget
        epochs = budget.epochs * (budget.task_count() if run.row.epochs_per_task else 1)
        flags = [
            "--method",
            run.row.method,
            "--out",
            str(run_dir),
            "--root",
            str(self.data_root),
            "--seed",
            str(run.seed),
            "--lr",
            f"{run.lr:g}",
            "--epochs",
            str(epochs),
            "--overwrite",
            *budget.train_flags(),
            *run.row.flags,
        ]
        teacher = self._teacher(run.seed)
        if teacher is not None:
            flags += ["--teacher-ckpt", str(teacher)]
        return flags

    def _train(self, flags: List[str]) -> int:
        """One training run's exit status; a run stopped by Ctrl-C or SIGTERM (it saved its
        checkpoint) stops the comparison as an interruption, not as a failed run."""
        code = self.train(flags)
        if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            raise KeyboardInterrupt
        return code

    def execute(self, run: grid.Run) -> Dict:
        if run.key in self.record["runs"]:
            return self.record["runs"][run.key]
        run_dir = self._run_dir(run)
        start = time.perf_counter()
        print(f"== {run.key} ==", flush=True)
        code = self._train(self._flags(run, run_dir))
        if code != 0:
            raise ComparisonError(
                f"run {run.key} failed with exit status {code} (its folder: {run_dir})"
            )
        teacher = self.out / "teachers" / f"seed{run.seed}.pt"
        if not teacher.is_file():  # the seed's first run trained the shared teacher
            teacher.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "teacher.pt", teacher)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        entry = {
            "row": run.row.name,
            "seed": run.seed,
            "lr": run.lr,
            "test": {t: m["expert"] for t, m in metrics["tasks"].items()},
            "teacher_test": {t: m["teacher"] for t, m in metrics["tasks"].items()},
            "val": _val_metrics(run_dir),
        }
        seconds = time.perf_counter() - start
        entry["seconds"] = round(seconds, 1)
        self._keep_logs(run, run_dir)
        self.record["runs"][run.key] = entry
        self.record["wall_seconds"] = round(self.record["wall_seconds"] + seconds, 1)
        write_json(self.json_path, self.record)
        return entry

    def _keep_logs(self, run: grid.Run, run_dir: Path) -> None:
        """The epoch log and resolved configuration of every run stay; the weights only with
        keep_runs (a run's experts and teacher are tens of MB)."""
        logs = self.out / "logs" / run_dir.name
        logs.mkdir(parents=True, exist_ok=True)
        for name in ("epochs.csv", "config.json", "metrics.json"):
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, logs / name)
        if not self.keep_runs:
            shutil.rmtree(run_dir)

    # ------------------------------------------------------------------ reproduction
    def reproduce(self, key: str, evaluate: Train) -> Dict[str, Any]:
        """Train the recorded run ``key`` again with the grid's exact flags (CPU training is
        deterministic; the seed's teacher is reused from OUT/teachers or trained again, which
        gives the same teacher), evaluate it with ``evaluate`` (the flags of
        ``python -m lorkd_kernels.evaluate``), and compare with the recorded test numbers.

        Where the bits should repeat (the same commit and machine: :func:`bits_may_differ`) every
        number must be equal; elsewhere within :data:`CROSS_MACHINE_TOLERANCE`. Returns
        ``{"exact": bool, "tolerance": the one applied, "differs_in": fields, "machine": here,
        "tasks": {task: {"recorded": metrics, "reproduced": metrics}}}``; raises
        ComparisonError when a number is off.
        """
        entry = self.record["runs"].get(key)
        if entry is None:
            known = ", ".join(sorted(self.record["runs"])[:3])
            raise ComparisonError(
                f"--reproduce {key!r}: {self.json_path} holds no such run "
                f"(keys look like {known}, ...)"
            )
        self._check_benchmark_version(f"--reproduce {key!r}")
        rows = {row.name: row for row in grid.ROWS}
        if entry["row"] not in rows:
            raise ComparisonError(
                f"--reproduce {key!r}: row {entry['row']!r} is not in this version's grid"
            )
        run = grid.Run(rows[entry["row"]], entry["seed"], entry["lr"])
        run_dir = self.out / "reproduced" / self._run_dir(run).name
        if self._train(self._flags(run, run_dir)) != 0:
            raise ComparisonError(f"--reproduce {key!r}: training failed (its folder: {run_dir})")
        evaluation = run_dir / "evaluation-test.json"
        if evaluate([str(run_dir), "--split", "test", "--out", str(evaluation)]) != 0:
            raise ComparisonError(f"--reproduce {key!r}: evaluating {run_dir} failed")
        reproduced = json.loads(evaluation.read_text())["tasks"]
        pairs = {
            task: {"recorded": metrics, "reproduced": reproduced[task]["expert"]}
            for task, metrics in entry["test"].items()
        }
        here = {**_machine(), "commit": _commit()}
        recorded = {**self.record.get("machine", {}), "commit": self.record.get("commit")}
        reasons = bits_may_differ(recorded, here)
        exact = not reasons
        tolerance = 1e-9 if exact else CROSS_MACHINE_TOLERANCE
        differing = [
            task
            for task, pair in pairs.items()
            if any(
                abs(pair["recorded"][m] - pair["reproduced"][m]) > tolerance
                for m in ("accuracy", "auc")
            )
        ]
        if differing:
            judged = (
                "differ from"
                if exact
                else f"differ by more than {tolerance} (another {', '.join(reasons)}) from"
            )
            raise ComparisonError(
                f"--reproduce {key!r}: the numbers of {differing} {judged} "
                f"{self.json_path} (see {evaluation})"
            )
        return {
            "exact": exact,
            "tolerance": tolerance,
            "differs_in": reasons,
            "machine": here,
            "tasks": pairs,
        }

    # ------------------------------------------------------------------ the grid
    def select_learning_rates(self) -> Dict[str, float]:
        """Each tuned row's learning rate: the grid value with the best mean validation
        accuracy on the first seed (test numbers take no part)."""
        scores: Dict[str, Dict[str, float]] = {}
        for run in grid.selection_runs(self.budget):
            entry = self.execute(run)
            scores.setdefault(run.row.name, {})[f"{run.lr:g}"] = stats.mean_accuracy(entry["val"])
        chosen = {row: float(max(by_lr, key=by_lr.__getitem__)) for row, by_lr in scores.items()}
        self.record["selection"] = {
            "metric": f"mean expert accuracy on the validation split, seed {self.budget.seeds[0]}",
            "scores": scores,
            "chosen": chosen,
        }
        write_json(self.json_path, self.record)
        return chosen

    def _check_benchmark_version(self, doing: str) -> None:
        """ComparisonError unless the record was measured on this library's benchmark version
        (a record without the field predates it: version 1)."""
        drawn_by = self.record.get("synthetic_generator", 1)
        if drawn_by != GENERATOR_VERSION:
            raise ComparisonError(
                f"{doing}: {self.json_path} was measured on version {drawn_by} of the synthetic "
                f"benchmark and this library draws version {GENERATOR_VERSION} (other images): "
                "run the comparison again into another --out"
            )

    def run_all(self) -> Dict:
        # the runs recorded so far would be mixed with runs on other images
        self._check_benchmark_version("resuming the comparison")
        chosen = self.select_learning_rates()
        for run in grid.final_runs(self.budget, chosen):
            self.execute(run)
        self.record["final"] = [run.key for run in grid.final_runs(self.budget, chosen)]
        self.record["rows"] = [
            {
                "name": row.name,
                "method": row.method,
                "flags": list(row.flags),
                "ablation": row.ablation,
                "note": row.note,
                "lr_from": row.lr_from or row.name,
            }
            for row in grid.ROWS
        ]
        write_json(self.json_path, self.record)
        return self.record


def _budget_json(budget: grid.Budget) -> Dict:
    return json.loads(json.dumps(dataclasses.asdict(budget)))  # tuples as JSON lists
