"""The speed and memory targets of the CPU work (issue #5), judged on a run: the summary's
bullets.

EKS forward+backward over the layer suite's main setting at most 1.00x plain as the median and
1.15x at worst; the model-level training step at least 5x faster than the paper's formulation and
at least 0.95x as fast as plain; peak memory at most 1.1x plain.
"""

from __future__ import annotations

import statistics
from typing import List, Optional, Sequence

from ..names import BASELINE
from .results import Record, Run, by_case, providers_in, ratio, records_of

LAYER_MEDIAN_TARGET, LAYER_WORST_TARGET = 1.00, 1.15
PAPER_SPEEDUP_TARGET, PLAIN_SPEED_TARGET, MEMORY_TARGET = 5.0, 0.95, 1.10


def verdict(ok: bool) -> str:
    return "(met)" if ok else "(missed)"


def layer_summary(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """Median and worst EKS / plain over the main-setting forward+backward cases."""
    main = [r for r in records if r["setting"] == "main" and r["pass"] == "fwd+bwd"]
    times = by_case(main)
    cases = list(dict.fromkeys(r["case"] for r in main))
    lines = []
    for provider in [p for p in providers_in(main) if p != BASELINE]:
        ratios = {case: ratio(times.get((case, provider)), times.get((case, BASELINE)))
                  for case in cases}
        ratios = {c: v for c, v in ratios.items() if v is not None}
        if not ratios:
            continue
        worst = max(ratios, key=ratios.get)
        median = statistics.median(ratios.values())
        line = (f"* `{provider}` / plain, forward+backward, main setting ({len(ratios)} layer "
                f"shapes): median **{median:.2f}×**, worst **{ratios[worst]:.2f}×** ({worst})")
        if provider == eks:
            line += (f" — targets ≤ {LAYER_MEDIAN_TARGET:.2f}× median "
                     f"{verdict(median <= LAYER_MEDIAN_TARGET)}, ≤ {LAYER_WORST_TARGET:.2f}× "
                     f"worst {verdict(ratios[worst] <= LAYER_WORST_TARGET)}")
        lines.append(line)
    if eks:
        speedups = [v for v in (ratio(times.get((case, "paper")), times.get((case, eks)))
                                for case in cases) if v]
        if speedups:
            lines.append(f"* paper / `{eks}`: median {statistics.median(speedups):.2f}×, "
                         f"range {min(speedups):.2f}×–{max(speedups):.2f}×")
    return lines


def model_summary(run: Run) -> List[str]:
    """The training step's speed-up over the paper and its speed against plain, when all three
    were timed."""
    train = {r["provider"]: r.median for r in records_of(run, "model", "time")
             if r["what"] == "train"}
    if not {"eks", "paper", BASELINE} <= set(train):
        return []
    speedup, speed = train["paper"] / train["eks"], train[BASELINE] / train["eks"]
    lines = [f"* training step: paper / EKS **{speedup:.2f}×** (target ≥ "
             f"{PAPER_SPEEDUP_TARGET:.0f}× {verdict(speedup >= PAPER_SPEEDUP_TARGET)}); "
             f"EKS speed vs plain **{speed:.2f}×** (target ≥ {PLAIN_SPEED_TARGET:.2f}× "
             f"{verdict(speed >= PLAIN_SPEED_TARGET)})"]
    if "eks_measured" in train:
        measured = train[BASELINE] / train["eks_measured"]
        lines.append(f"* training step with measured conv choices (`eks_measured`): speed vs "
                     f"plain **{measured:.2f}×** (target ≥ {PLAIN_SPEED_TARGET:.2f}× "
                     f"{verdict(measured >= PLAIN_SPEED_TARGET)})")
    return lines


def memory_summary(run: Run, eks: Optional[str]) -> List[str]:
    """Layer peak memory / plain per provider (median, worst; the target on ``eks``), then the
    training step's peak per provider."""
    layer = records_of(run, "layer", "peak_bytes")
    peaks = by_case(layer, "peak_bytes")
    cases = list(dict.fromkeys(r["case"] for r in layer))
    lines = []
    for provider in [p for p in providers_in(layer) if p != BASELINE]:
        ratios = [v for v in (ratio(peaks.get((c, provider)), peaks.get((c, BASELINE)))
                              for c in cases) if v]
        if ratios:
            line = (f"* layer peak memory `{provider}` / plain: median "
                    f"{statistics.median(ratios):.2f}×, worst **{max(ratios):.2f}×**")
            if provider == eks:
                line += (f" (target ≤ {MEMORY_TARGET:.1f}× "
                         f"{verdict(max(ratios) <= MEMORY_TARGET)})")
            lines.append(line)
    model = {r["provider"]: r["peak_bytes"] for r in records_of(run, "model", "peak_bytes")}
    if model.get(BASELINE):
        parts = [f"{p} {model[p] / 2**20:.0f} MiB ({model[p] / model[BASELINE]:.2f}×)"
                 for p in model]
        line = "* model training step peak memory: " + ", ".join(parts)
        if "eks" in model:
            line += (f" — EKS target ≤ {MEMORY_TARGET:.1f}× plain "
                     f"{verdict(model['eks'] / model[BASELINE] <= MEMORY_TARGET)}")
        lines.append(line)
    return lines
