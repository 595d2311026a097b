"""Summaries of the comparison's JSON: mean ± std over seeds, and paired differences.

A difference between two rows is paired by (seed, task): both runs of a seed share the teacher,
the data and the test images, so the pairs take the seed-to-seed and test-set noise out of the
comparison. Its 95% interval is Student's t over those pairs; the per-seed mean differences are
reported beside it, since tasks of one seed are not independent of each other.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Sequence

import numpy as np
from scipy import stats as scipy_stats

METRICS = ("accuracy", "auc")


def mean_accuracy(per_task: Dict[str, Dict]) -> float:
    return float(np.mean([m["accuracy"] for m in per_task.values()]))


def final_entries(record: Dict, row: str) -> List[Dict]:
    """The row's runs at its chosen learning rate, one per seed, in seed order."""
    entries = [record["runs"][key] for key in record["final"]]
    return sorted((e for e in entries if e["row"] == row), key=lambda e: e["seed"])


def _spread(values: Sequence[float]) -> Dict[str, float]:
    array = np.asarray(values, dtype=float)
    std = float(array.std(ddof=1)) if len(array) > 1 else math.nan
    return {"mean": float(array.mean()), "std": std, "n": int(len(array))}


def row_summary(entries: Sequence[Dict], key: str = "test") -> Dict:
    """Per task and overall (the mean over tasks of each seed), mean ± std over seeds."""
    tasks = list(entries[0][key])
    summary: Dict[str, Dict[str, Dict]] = {"tasks": {}, "mean": {}}
    for metric in METRICS:
        for task in tasks:
            summary["tasks"].setdefault(task, {})[metric] = _spread(
                [e[key][task][metric] for e in entries]
            )
        summary["mean"][metric] = _spread(
            [np.mean([e[key][t][metric] for t in tasks]) for e in entries]
        )
    return summary


def verdict(difference: Dict) -> str:
    """'ahead' / 'behind' when the 95% interval excludes 0, else 'within noise'."""
    low, high = difference["ci95"]
    if low > 0:
        return "ahead"
    if high < 0:
        return "behind"
    return "within noise"


def paired_difference(differences: Iterable[float], seeds_of: Sequence[int] = ()) -> Dict:
    """Mean of paired differences with its 95% t interval, two-sided p-value and verdict."""
    d = np.asarray(list(differences), dtype=float)
    n = len(d)
    mean = float(d.mean())
    if n < 2 or float(d.std(ddof=1)) == 0.0:
        low = high = mean
        p = math.nan
    else:
        sem = float(d.std(ddof=1)) / math.sqrt(n)
        half = float(scipy_stats.t.ppf(0.975, n - 1)) * sem
        low, high = mean - half, mean + half
        p = float(scipy_stats.ttest_1samp(d, 0.0).pvalue)
    result = {"mean": mean, "ci95": [low, high], "p": p, "n": n}
    if len(seeds_of):
        seeds = sorted(set(seeds_of))
        result["per_seed"] = {
            str(s): float(np.mean([v for v, t in zip(d, seeds_of) if t == s])) for s in seeds
        }
    result["verdict"] = verdict(result)
    return result


def _paired_by_seed_and_task(pairs: Sequence[tuple], tasks: Sequence[str], metric: str) -> Dict:
    """``a - b`` over every task of every ``(seed, a metrics, b metrics)`` in ``pairs``."""
    values, seed_of = [], []
    for seed, a, b in pairs:
        for task in tasks:
            values.append(a[task][metric] - b[task][metric])
            seed_of.append(seed)
    return paired_difference(values, seed_of)


def compare_rows(record: Dict, row: str, other: str, metric: str = "accuracy") -> Dict:
    """``row − other`` over every (seed, task) pair."""
    a = {e["seed"]: e for e in final_entries(record, row)}
    b = {e["seed"]: e for e in final_entries(record, other)}
    seeds = sorted(set(a) & set(b))
    tasks = list(a[seeds[0]]["test"])
    return _paired_by_seed_and_task([(s, a[s]["test"], b[s]["test"]) for s in seeds], tasks, metric)


def experts_vs_teacher(record: Dict, row: str = "lorkd", metric: str = "accuracy") -> Dict:
    """Per task: the row's expert minus the seed's teacher, paired over seeds; and overall."""
    entries = final_entries(record, row)
    pairs = [(e["seed"], e["test"], e["teacher_test"]) for e in entries]
    tasks = list(entries[0]["test"])
    return {
        "tasks": {task: _paired_by_seed_and_task(pairs, [task], metric) for task in tasks},
        "all": _paired_by_seed_and_task(pairs, tasks, metric),
    }


def teacher_summary(record: Dict) -> Dict:
    """The teachers' test metrics, one teacher per seed (read from the lorkd runs)."""
    entries = final_entries(record, "lorkd")
    return row_summary(entries, key="teacher_test")


def analyse(record: Dict) -> Dict:
    """Everything the report shows, computed from the JSON record alone."""
    rows = [r["name"] for r in record["rows"]]
    baselines = [r["name"] for r in record["rows"] if not r["ablation"] and r["name"] != "lorkd"]
    ablations = [r["name"] for r in record["rows"] if r["ablation"]]
    return {
        "rows": {name: row_summary(final_entries(record, name)) for name in rows},
        "lorkd_vs_baselines": {b: compare_rows(record, "lorkd", b) for b in baselines},
        "ablations_vs_lorkd": {a: compare_rows(record, a, "lorkd") for a in ablations},
        "experts_vs_teacher": experts_vs_teacher(record),
        "teacher": teacher_summary(record),
    }
