"""The PNG: provider / plain per main-setting layer case (a paper-scale run: per paper-scale
forward+backward case), and the training step / plain."""

from __future__ import annotations

from ..names import BASELINE
from .results import Run, by_case, eks_provider, is_paper_scale, providers_in, ratio, records_of


def plot(run: Run, path: str) -> None:
    """Bars of provider / plain per main-setting layer case (log scale), and the model level."""
    # imported here: rendering markdown must not need matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    timed = records_of(run, "layer", "time")
    layer = [r for r in timed if r["setting"] == "main"]
    title = "layers, main setting"
    if not layer:
        layer = [r for r in timed if is_paper_scale(r) and r["pass"] == "fwd+bwd"]
        title = "layers, paper scale"
    # keyed by (student, dtype) and provider: each bar against the plain step in its own dtype
    model = {
        ((r["model"], r["dtype"] or "float32"), r["provider"]): r.median
        for r in records_of(run, "model", "time")
        if r["what"] == "train"
    }
    cases = list(dict.fromkeys(r["case"] for r in layer))
    providers = [p for p in providers_in(layer) if p != BASELINE]
    times = by_case(layer)
    # each student's bars against its own plain step
    bars = [(arch, p) for arch, p in model if (arch, BASELINE) in model]
    fig, (ax, ax_model) = plt.subplots(
        1,
        2,
        figsize=(max(8.0, 0.45 * len(cases) + 0.45 * len(bars) + 3), 5.5),
        gridspec_kw={"width_ratios": [max(len(cases), 1), max(3, len(bars))]},
    )
    # one colour per provider in both panels; the model level's "eks" runs on the EKS backend
    colors = {p: f"C{i}" for i, p in enumerate(providers)}
    colors.update({BASELINE: "0.6", "eks": colors.get(eks_provider(run, layer) or "", "C0")})
    width = 0.8 / max(len(providers), 1)
    x = np.arange(len(cases))
    for i, provider in enumerate(providers):
        ratios = [
            ratio(times.get((c, provider)), times.get((c, BASELINE))) or np.nan for c in cases
        ]
        ax.bar(
            x + (i - (len(providers) - 1) / 2) * width,
            ratios,
            width,
            label=provider,
            color=colors[provider],
        )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    dtypes = {r["case"]: r["dtype"] or "float32" for r in layer}
    labels = [
        c.split("-fwd")[0] + ("" if dtypes[c] == "float32" else f" {dtypes[c]}") for c in cases
    ]
    ax.set_xticks(x, labels, rotation=75, fontsize=7)
    ax.set_ylabel("time / plain (median, log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if bars:
        ax_model.bar(
            [
                f"{arch.split('_')[0]} {p}" + ("" if dtype == "float32" else f" {dtype}")
                for (arch, dtype), p in bars
            ],
            [model[b] / model[(b[0], BASELINE)] for b in bars],
            color=[colors.get(p, "C9") for _, p in bars],
        )
        ax_model.set_yscale("log")
        ax_model.tick_params(axis="x", labelsize=7, rotation=75)
        ax_model.axhline(1.0, color="black", linewidth=0.8)
        ax_model.set_title("training step / plain")
    else:
        ax_model.set_axis_off()
    fig.suptitle(
        f"{run.machine.get('bench_device_name', '?')}, torch "
        f"{run.machine.get('torch_version', '?')}, {run.datetime[:10]}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
