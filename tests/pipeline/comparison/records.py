"""A comparison record with random numbers, in the layout the runner writes."""

from __future__ import annotations

import numpy as np

from lorkd_kernels.pipeline.comparison import grid

TASKS = ("tissue", "blood", "chest")


def _metrics(rng, base: float) -> dict:
    return {
        t: {
            "accuracy": float(np.clip(base + rng.normal(0, 0.03), 0, 1)),
            "auc": float(np.clip(base + 0.1 + rng.normal(0, 0.02), 0, 1)),
            "samples": 40,
        }
        for t in TASKS
    }


def random_record(seed: int = 0, budget: grid.Budget = grid.FULL) -> dict:
    rng = np.random.default_rng(seed)
    chosen = {row.name: budget.lrs[int(rng.integers(len(budget.lrs)))] for row in grid.tuned_rows()}
    runs, final = {}, []
    teacher = {s: _metrics(rng, 0.75) for s in budget.seeds}
    for index, run in enumerate(grid.final_runs(budget, chosen)):
        runs[run.key] = {
            "row": run.row.name,
            "seed": run.seed,
            "lr": run.lr,
            "test": _metrics(rng, 0.6 + 0.01 * index),
            "teacher_test": teacher[run.seed],
            "val": _metrics(rng, 0.6),
            "seconds": 1.0,
        }
        final.append(run.key)
    scores = {
        name: {f"{lr:g}": float(rng.uniform(0.5, 0.7)) for lr in budget.lrs} for name in chosen
    }
    return {
        "command": "python -m lorkd_kernels.compare",
        "commit": "0" * 40,
        "machine": {
            "platform": "Linux",
            "processor": "x86_64",
            "cpus": 2,
            "torch_threads": 2,
            "python": "3.11",
            "torch": "2.13.0",
        },
        "budget": {
            "seeds": list(budget.seeds),
            "lrs": list(budget.lrs),
            "synthetic_samples": budget.synthetic_samples,
            "epochs": budget.epochs,
            "teacher_epochs": budget.teacher_epochs,
            "tasks": None,
            "extra": [],
        },
        "runs": runs,
        "final": final,
        "wall_seconds": 60.0,
        "selection": {
            "metric": "mean expert accuracy on the validation split, seed 0",
            "scores": scores,
            "chosen": chosen,
        },
        "rows": [
            {
                "name": r.name,
                "method": r.method,
                "flags": list(r.flags),
                "ablation": r.ablation,
                "note": r.note,
                "lr_from": r.lr_from or r.name,
            }
            for r in grid.ROWS
        ],
    }
