"""The speed and memory targets, judged on a run: the summary's bullets.

At the main setting (the CPU work): EKS forward+backward over the layer suite at most 1.05x plain
as the median and 1.30x at worst, with layer peak memory at most 1.5x plain; each student's
training step at least 0.95x as fast as plain and at least 5x faster than the paper's
formulation; the training step's peak memory at most 1.1x plain.

At the paper's scale (224 px, batch 256: the GPU work): EKS forward+backward in bfloat16 at most
1.10x plain on every layer; each student's training step at least 0.90x as fast as plain and at
least 10x faster than the paper's formulation.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from ..names import BASELINE, MEASURED_TRAIN, MEASURING_TRAIN
from .results import (
    PAPER_SCALE,
    Record,
    Run,
    by_case,
    is_paper_scale,
    providers_in,
    ratio,
    records_of,
)

LAYER_MEDIAN_TARGET, LAYER_WORST_TARGET = 1.05, 1.30
PAPER_SPEEDUP_TARGET, PLAIN_SPEED_TARGET = 5.0, 0.95
LAYER_MEMORY_TARGET, MODEL_MEMORY_TARGET = 1.5, 1.10
#: at the paper's scale: every bfloat16 layer, and the training step (paper / EKS, EKS vs plain)
PAPER_SCALE_LAYER_TARGET = 1.10
PAPER_SCALE_TRAIN_TARGETS = (10.0, 0.90)


def verdict(ok: bool) -> str:
    return "(met)" if ok else "(missed)"


def layer_summary(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """Median and worst EKS / plain over the main-setting forward+backward cases."""
    main = [r for r in records if r["setting"] == "main" and r["pass"] == "fwd+bwd"]
    if not main:
        return []
    times = by_case(main)
    cases = list(dict.fromkeys(r["case"] for r in main))
    lines = []
    for provider in [p for p in providers_in(main) if p != BASELINE]:
        ratios = {
            case: ratio(times.get((case, provider)), times.get((case, BASELINE))) for case in cases
        }
        ratios = {c: v for c, v in ratios.items() if v is not None}
        if not ratios:
            continue
        worst = max(ratios, key=ratios.get)
        median = statistics.median(ratios.values())
        line = (
            f"* `{provider}` / plain, forward+backward, main setting ({len(ratios)} layer "
            f"shapes): median **{median:.2f}×**, worst **{ratios[worst]:.2f}×** ({worst})"
        )
        if provider == eks:
            line += (
                f" — targets ≤ {LAYER_MEDIAN_TARGET:.2f}× median "
                f"{verdict(median <= LAYER_MEDIAN_TARGET)}, ≤ {LAYER_WORST_TARGET:.2f}× "
                f"worst {verdict(ratios[worst] <= LAYER_WORST_TARGET)}"
            )
        lines.append(line)
    if eks:
        speedups = [
            v
            for v in (ratio(times.get((case, "paper")), times.get((case, eks))) for case in cases)
            if v
        ]
        if speedups:
            lines.append(
                f"* paper / `{eks}`: median {statistics.median(speedups):.2f}×, "
                f"range {min(speedups):.2f}×–{max(speedups):.2f}×"
            )
    return lines


def paper_scale_summary(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """Median and worst provider / plain over the paper-scale forward+backward cases, per
    dtype; the target (every bfloat16 layer) judged on ``eks``; paper / ``eks`` per dtype."""
    at_scale = [r for r in records if is_paper_scale(r) and r["pass"] == "fwd+bwd"]
    times = by_case(at_scale)
    lines = []
    for dtype in dict.fromkeys(r["dtype"] for r in at_scale):
        cases = list(dict.fromkeys(r["case"] for r in at_scale if r["dtype"] == dtype))
        for provider in [p for p in providers_in(at_scale) if p != BASELINE]:
            found = {c: ratio(times.get((c, provider)), times.get((c, BASELINE))) for c in cases}
            ratios = {c: v for c, v in found.items() if v is not None}
            if not ratios:
                continue
            worst = max(ratios, key=ratios.get)
            line = (
                f"* paper scale, {dtype}: `{provider}` / plain, forward+backward ({len(ratios)} "
                f"layer shapes): median {statistics.median(ratios.values()):.2f}×, worst "
                f"**{ratios[worst]:.2f}×** ({worst})"
            )
            if provider == eks and dtype == "bfloat16":
                met = ratios[worst] <= PAPER_SCALE_LAYER_TARGET
                line += f" — target ≤ {PAPER_SCALE_LAYER_TARGET:.2f}× every layer {verdict(met)}"
            lines.append(line)
        speedups = [
            v for v in (ratio(times.get((c, "paper")), times.get((c, eks))) for c in cases) if v
        ]
        if speedups:
            lines.append(
                f"* paper scale, {dtype}: paper / `{eks}` median "
                f"{statistics.median(speedups):.2f}×, range {min(speedups):.2f}×–"
                f"{max(speedups):.2f}×"
            )
    return lines


def _train_times(run: Run) -> Dict[Tuple[str, str, str], Dict[str, float]]:
    """Median training-step seconds by (student, scale, dtype), then provider."""
    times: Dict[Tuple[str, str, str], Dict[str, float]] = {}
    for r in records_of(run, "model", "time"):
        if r["what"] == "train":
            key = (r["model"], r["scale"] or "main", r["dtype"] or "float32")
            times.setdefault(key, {})[r["provider"]] = r.median
    return times


def model_summary(run: Run) -> List[str]:
    """Per student (and scale and dtype): the training step's speed against plain and, where
    timed, its speed-up over the paper, against the targets of its scale; the CUDA-graph steps;
    the measured choices' speed, and what a step that measures every conv shape costs."""
    lines = []
    for (model, scale, dtype), train in _train_times(run).items():
        if not {"eks", BASELINE} <= set(train):
            continue
        paper_target, plain_target = (
            PAPER_SCALE_TRAIN_TARGETS
            if scale == PAPER_SCALE
            else (PAPER_SPEEDUP_TARGET, PLAIN_SPEED_TARGET)
        )
        speed = train[BASELINE] / train["eks"]
        label = model if scale != PAPER_SCALE else f"{model} at the paper's scale, {dtype},"
        parts = []
        if "paper" in train:
            speedup = train["paper"] / train["eks"]
            parts.append(
                f"paper / EKS **{speedup:.2f}×** (target ≥ {paper_target:.0f}× "
                f"{verdict(speedup >= paper_target)})"
            )
        parts.append(
            f"EKS speed vs plain **{speed:.2f}×** (target ≥ {plain_target:.2f}× "
            f"{verdict(speed >= plain_target)})"
        )
        lines.append(f"* {label} training step: " + "; ".join(parts))
        for graphed, eager in (("plain_graph", BASELINE), ("eks_graph", "eks")):
            if graphed in train:
                lines.append(
                    f"* {label} `{graphed}` (one CUDA graph replayed): "
                    f"{train[graphed] * 1e3:.1f} ms, {train[eager] / train[graphed]:.2f}× "
                    f"the speed of `{eager}`"
                )
        if "eks_graph" in train and "plain_graph" in train:
            graph_speed = train["plain_graph"] / train["eks_graph"]
            lines.append(
                f"* {label} captured EKS step speed vs captured plain **{graph_speed:.2f}×**"
            )
        if MEASURED_TRAIN in train:
            measured = train[BASELINE] / train[MEASURED_TRAIN]
            lines.append(
                f"* {label} training step with measured conv choices "
                f"(`{MEASURED_TRAIN}`): speed vs plain **{measured:.2f}×** (target ≥ "
                f"{PLAIN_SPEED_TARGET:.2f}× {verdict(measured >= PLAIN_SPEED_TARGET)})"
            )
        if MEASURING_TRAIN in train and MEASURED_TRAIN in train:
            extra = train[MEASURING_TRAIN] - train[MEASURED_TRAIN]
            lines.append(
                f"* {label} first step with measuring on (`{MEASURING_TRAIN}`: every "
                f"conv shape timed): {train[MEASURING_TRAIN] * 1e3:.0f} ms, "
                f"{extra * 1e3:.0f} ms more than a step that reuses the choices"
            )
    return lines


def memory_summary(run: Run, eks: Optional[str]) -> List[str]:
    """Layer peak memory / plain per provider (median, worst; the target on ``eks``), then the
    training step's peak per provider."""
    layer = records_of(run, "layer", "peak_bytes")
    peaks = by_case(layer, "peak_bytes")
    cases = list(dict.fromkeys(r["case"] for r in layer))
    lines = []
    for provider in [p for p in providers_in(layer) if p != BASELINE]:
        ratios = [
            v
            for v in (ratio(peaks.get((c, provider)), peaks.get((c, BASELINE))) for c in cases)
            if v
        ]
        if ratios:
            line = (
                f"* layer peak memory `{provider}` / plain: median "
                f"{statistics.median(ratios):.2f}×, worst **{max(ratios):.2f}×**"
            )
            if provider == eks:
                line += (
                    f" (target ≤ {LAYER_MEMORY_TARGET:.1f}× "
                    f"{verdict(max(ratios) <= LAYER_MEMORY_TARGET)})"
                )
            lines.append(line)
    peaks: Dict[str, Dict[str, float]] = {}
    for r in records_of(run, "model", "peak_bytes"):
        peaks.setdefault(r["model"], {})[r["provider"]] = r["peak_bytes"]
    for model, peak in peaks.items():
        if not peak.get(BASELINE):
            continue
        parts = [f"{p} {peak[p] / 2**20:.0f} MiB ({peak[p] / peak[BASELINE]:.2f}×)" for p in peak]
        line = f"* {model} training step peak memory: " + ", ".join(parts)
        if "eks" in peak:
            line += (
                f" — EKS target ≤ {MODEL_MEMORY_TARGET:.1f}× plain "
                f"{verdict(peak['eks'] / peak[BASELINE] <= MODEL_MEMORY_TARGET)}"
            )
        lines.append(line)
    return lines
