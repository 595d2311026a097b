"""The comparison's markdown report and plot, built from its JSON record alone."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from . import stats


def _machine_words(machine) -> str:
    if not machine:
        return ""
    return (
        f" on {machine['cpus']} CPUs ({machine['processor']}, torch {machine['torch']}, "
        f"{machine['torch_threads']} threads)"
    )


def _pm(spread: Dict) -> str:
    return f"{spread['mean']:.3f} ± {spread['std']:.3f}"


def _interval(diff: Dict) -> str:
    low, high = diff["ci95"]
    p = "—" if diff["p"] != diff["p"] else f"{diff['p']:.3g}"
    seeds = ", ".join(f"{v:+.3f}" for v in diff.get("per_seed", {}).values())
    return f"{diff['mean']:+.3f} | [{low:+.3f}, {high:+.3f}] | {p} | {seeds} | {diff['verdict']}"


def _row_table(analysis: Dict, names: List[str], tasks: List[str]) -> List[str]:
    lines = [
        "| row | " + " | ".join(tasks) + " | mean acc | mean AUC |",
        "|---|" + "---:|" * (len(tasks) + 2),
    ]
    for name in names:
        summary = analysis["rows"][name]
        cells = [_pm(summary["tasks"][t]["accuracy"]) for t in tasks]
        cells += [_pm(summary["mean"]["accuracy"]), _pm(summary["mean"]["auc"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    teacher = analysis["teacher"]
    cells = [_pm(teacher["tasks"][t]["accuracy"]) for t in tasks]
    cells += [_pm(teacher["mean"]["accuracy"]), _pm(teacher["mean"]["auc"])]
    lines.append("| *teacher* | " + " | ".join(cells) + " |")
    return lines


_DIFF_HEAD = [
    "| {what} | mean difference | 95% interval | p | per seed | verdict |",
    "|---|---:|---:|---:|---|---|",
]


def markdown(record: Dict) -> str:
    analysis = stats.analyse(record)
    rows = record["rows"]
    methods = [r["name"] for r in rows if not r["ablation"]]
    ablations = [r["name"] for r in rows if r["ablation"]]
    tasks = list(next(iter(analysis["rows"].values()))["tasks"])
    budget = record["budget"]
    selection = record["selection"]
    seeds = budget["seeds"]
    lines = [
        "# Method comparison",
        "",
        f"Made by `{record['command']}` at commit `{record['commit'][:12]}`; "
        f"{len(record['runs'])} training runs, {record['wall_seconds'] / 60:.0f} min of training "
        f"and evaluation{_machine_words(record.get('machine'))}. Every number below is in "
        f"`comparison.json` next to this file.",
        "",
        f"Built-in synthetic benchmark, {budget['synthetic_samples']} training images per task, "
        f"student {budget['epochs']} epochs, teacher {budget['teacher_epochs']} epochs, seeds "
        f"{seeds} (each seed: its own teacher, shared by every row of that seed; data order, "
        f"initialisation and augmentation follow the seed). Test accuracy of the deployed "
        f"experts, mean ± std over seeds.",
        "",
        f"Learning rates chosen on the validation split ({selection['metric']}) from "
        f"{budget['lrs']}; ablations reuse LoRKD's and `stl-steps` reuses `stl`'s:",
        "",
        "| row | " + " | ".join(f"val acc @ {lr:g}" for lr in budget["lrs"]) + " | chosen |",
        "|---|" + "---:|" * (len(budget["lrs"]) + 1),
    ]
    for name in [r["name"] for r in rows if r["name"] in selection["scores"]]:
        by_lr = selection["scores"][name]
        cells = [f"{by_lr[f'{lr:g}']:.3f}" for lr in budget["lrs"]]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {selection['chosen'][name]:g} |")
    lines += ["", "## Methods", ""] + _row_table(analysis, methods, tasks)
    lines += ["", "LoRKD minus each baseline, test accuracy paired by (seed, task):", ""]
    lines += [h.format(what="baseline") for h in _DIFF_HEAD]
    for name, diff in analysis["lorkd_vs_baselines"].items():
        lines.append(f"| {name} | {_interval(diff)} |")
    lines += ["", "## Ablations of LoRKD", ""] + _row_table(analysis, ["lorkd"] + ablations, tasks)
    lines += ["", "Each ablation minus LoRKD, paired by (seed, task):", ""]
    lines += [h.format(what="ablation") for h in _DIFF_HEAD]
    for name, diff in analysis["ablations_vs_lorkd"].items():
        lines.append(f"| {name} | {_interval(diff)} |")
    lines += [
        "",
        "## Experts vs the teacher",
        "",
        "LoRKD's expert minus the teacher of the same seed, per task (pairs over seeds):",
        "",
    ]
    lines += [h.format(what="task") for h in _DIFF_HEAD]
    versus = analysis["experts_vs_teacher"]
    for task, diff in versus["tasks"].items():
        lines.append(f"| {task} | {_interval(diff)} |")
    lines.append(f"| all tasks | {_interval(versus['all'])} |")
    lines += ["", "Rows:", ""]
    lines += [f"* `{r['name']}`: {r['note']}" for r in rows]
    return "\n".join(lines) + "\n"


def plot(record: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    analysis = stats.analyse(record)
    names = [r["name"] for r in record["rows"]]
    means = [analysis["rows"][n]["mean"]["accuracy"]["mean"] for n in names]
    stds = [analysis["rows"][n]["mean"]["accuracy"]["std"] for n in names]
    colors = ["tab:gray" if r["ablation"] else "tab:blue" for r in record["rows"]]
    colors[names.index("lorkd")] = "tab:red"
    fig, axis = plt.subplots(figsize=(10, 4))
    axis.bar(range(len(names)), means, yerr=stds, color=colors, capsize=3)
    teacher = analysis["teacher"]["mean"]["accuracy"]
    axis.axhline(
        teacher["mean"],
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"teacher {teacher['mean']:.3f} ± {teacher['std']:.3f}",
    )
    axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
    axis.set_ylabel("mean test accuracy over tasks")
    low = min(m - (s if s == s else 0) for m, s in zip(means, stds))
    axis.set_ylim(max(0.0, low - 0.05), min(1.0, max(means + [teacher["mean"]]) + 0.05))
    axis.set_title(
        f"methods (blue), LoRKD (red), ablations (gray): mean ± std over "
        f"{len(record['budget']['seeds'])} seeds"
    )
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(record: Dict, out: Path) -> str:
    """``comparison.md`` and ``comparison.png`` in ``out``; returns the markdown."""
    text = markdown(record)
    (Path(out) / "comparison.md").write_text(text)
    plot(record, Path(out) / "comparison.png")
    return text


def reproduction_table(key: str, result: Dict, recorded_machine: Optional[Dict] = None) -> str:
    """The recorded and the reproduced test numbers of one run, side by side, with how they were
    judged (``Comparison.reproduce``'s result)."""
    if result["exact"]:
        verdict = f"{key}: every test number reproduced exactly (the same commit and machine)"
    else:
        verdict = (
            f"{key}: every test number within {result['tolerance']} of the record; the bits "
            f"need not repeat here: another {', '.join(result['differs_in'])} "
            f"(here: {result['machine']['processor']}, {result['machine']['cpu_capability']}; "
            f"recorded on {(recorded_machine or {}).get('processor', 'unknown')})"
        )
    lines = [
        verdict,
        "",
        "| task | recorded acc | reproduced acc | recorded AUC | reproduced AUC |",
        "|---|---:|---:|---:|---:|",
    ]
    for task, pair in result["tasks"].items():
        rec, rep = pair["recorded"], pair["reproduced"]
        lines.append(
            f"| {task} | {rec['accuracy']:.6f} | {rep['accuracy']:.6f} | "
            f"{rec['auc']:.6f} | {rep['auc']:.6f} |"
        )
    return "\n".join(lines)
