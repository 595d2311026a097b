"""The speed and memory targets of the CPU work, judged on a run: the summary's bullets.

EKS forward+backward over the layer suite's main setting at most 1.05x plain as the median and
1.30x at worst, with layer peak memory at most 1.5x plain; each student's training step at least
0.95x as fast as plain and at least 5x faster than the paper's formulation; the training step's
peak memory at most 1.1x plain.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence

from ..names import BASELINE, MEASURED_TRAIN, MEASURING_TRAIN
from .results import Record, Run, by_case, providers_in, ratio, records_of

LAYER_MEDIAN_TARGET, LAYER_WORST_TARGET = 1.05, 1.30
PAPER_SPEEDUP_TARGET, PLAIN_SPEED_TARGET = 5.0, 0.95
LAYER_MEMORY_TARGET, MODEL_MEMORY_TARGET = 1.5, 1.10


def verdict(ok: bool) -> str:
    return "(met)" if ok else "(missed)"


def layer_summary(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """Median and worst EKS / plain over the main-setting forward+backward cases."""
    main = [r for r in records if r["setting"] == "main" and r["pass"] == "fwd+bwd"]
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


def _train_times(run: Run) -> Dict[str, Dict[str, float]]:
    """Median training-step seconds by student, then provider."""
    times: Dict[str, Dict[str, float]] = {}
    for r in records_of(run, "model", "time"):
        if r["what"] == "train":
            times.setdefault(r["model"], {})[r["provider"]] = r.median
    return times


def model_summary(run: Run) -> List[str]:
    """Per student: the training step's speed-up over the paper and its speed against plain,
    when all three were timed; the measured choices' speed, and what a step that measures
    every conv shape costs."""
    lines = []
    for model, train in _train_times(run).items():
        if not {"eks", "paper", BASELINE} <= set(train):
            continue
        speedup, speed = train["paper"] / train["eks"], train[BASELINE] / train["eks"]
        lines.append(
            f"* {model} training step: paper / EKS **{speedup:.2f}×** (target ≥ "
            f"{PAPER_SPEEDUP_TARGET:.0f}× {verdict(speedup >= PAPER_SPEEDUP_TARGET)}); "
            f"EKS speed vs plain **{speed:.2f}×** (target ≥ {PLAIN_SPEED_TARGET:.2f}× "
            f"{verdict(speed >= PLAIN_SPEED_TARGET)})"
        )
        if MEASURED_TRAIN in train:
            measured = train[BASELINE] / train[MEASURED_TRAIN]
            lines.append(
                f"* {model} training step with measured conv choices "
                f"(`{MEASURED_TRAIN}`): speed vs plain **{measured:.2f}×** (target ≥ "
                f"{PLAIN_SPEED_TARGET:.2f}× {verdict(measured >= PLAIN_SPEED_TARGET)})"
            )
        if MEASURING_TRAIN in train and MEASURED_TRAIN in train:
            extra = train[MEASURING_TRAIN] - train[MEASURED_TRAIN]
            lines.append(
                f"* {model} first step with measuring on (`{MEASURING_TRAIN}`: every "
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
