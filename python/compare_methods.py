"""Run LoRKD and the paper's baselines (STL, MTL, STL-KD, MTL-KD) on the same data and teacher,
then write a markdown table, a JSON file and a bar plot of the per-task expert accuracy and AUC.

    python python/compare_methods.py --out runs/compare [any lorkd_kernels.train flag ...]

The first method trains the teacher; every other method reuses it (``--teacher-ckpt``), so the
methods differ only in how the student is trained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")                      # files only, no display needed
import matplotlib.pyplot as plt            # noqa: E402

from lorkd_kernels import train            # noqa: E402

METHODS = ("lorkd", "mtl-kd", "mtl", "stl-kd", "stl")


def run_all(out: Path, train_flags: list) -> dict:
    results = {}
    teacher = None
    for method in METHODS:
        flags = ["--method", method, "--out", str(out / method), *train_flags]
        if teacher is not None:
            flags += ["--teacher-ckpt", str(teacher)]
        print(f"== {method} ==", flush=True)
        code = train.main(flags)
        if code != 0:
            raise SystemExit(f"{method} failed with exit code {code}")
        teacher = teacher or out / method / "teacher.pt"
        results[method] = json.loads((out / method / "metrics.json").read_text())
    return results


def markdown(results: dict) -> str:
    tasks = list(next(iter(results.values()))["tasks"])
    head = "| method | " + " | ".join(tasks) + " | mean |"
    lines = ["Expert test accuracy / AUC per task (teacher in the last row).", "", head,
             "|---|" + "---:|" * (len(tasks) + 1)]

    def row(name, role, summary):
        cells = [f"{summary['tasks'][t][role]['accuracy']:.3f} / "
                 f"{summary['tasks'][t][role]['auc']:.3f}" for t in tasks]
        mean = summary["mean"][role]
        cells.append(f"{mean['accuracy']:.3f} / {mean['auc']:.3f}")
        return f"| {name} | " + " | ".join(cells) + " |"

    lines += [row(method, "expert", summary) for method, summary in results.items()]
    lines.append(row("teacher", "teacher", next(iter(results.values()))))
    return "\n".join(lines) + "\n"


def bar_plot(results: dict, path: Path) -> None:
    tasks = list(next(iter(results.values()))["tasks"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=False)
    width = 0.8 / len(results)
    for axis, metric in zip(axes, ("accuracy", "auc")):
        for i, (method, summary) in enumerate(results.items()):
            values = [summary["tasks"][t]["expert"][metric] for t in tasks]
            axis.bar([k + i * width for k in range(len(tasks))], values, width, label=method)
        axis.set_xticks([k + 0.4 - width / 2 for k in range(len(tasks))], tasks, rotation=30)
        axis.set_title(f"expert {metric}")
        axis.set_ylim(0, 1)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/compare", help="folder for all runs and results")
    args, train_flags = parser.parse_known_args(argv)
    out = Path(args.out)
    results = run_all(out, train_flags)
    (out / "comparison.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (out / "comparison.md").write_text(table)
    bar_plot(results, out / "comparison.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
