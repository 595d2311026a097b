"""Markdown tables of medians (ms, MiB) and their ratios to the plain baseline."""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from ..names import BASELINE
from .results import Record, Run, by_case, providers_in, ratio, records_of


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ms(seconds: Optional[float]) -> str:
    """Milliseconds with about three significant digits."""
    if seconds is None:
        return "–"
    millis = seconds * 1e3
    return f"{millis:.3f}" if millis < 1 else f"{millis:.1f}" if millis < 100 else f"{millis:.0f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def layer_time_table(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """One row per case: median ms per provider, then each provider / plain and paper / EKS."""
    providers = providers_in(records)
    times = by_case(records)
    cases = list(dict.fromkeys(r["case"] for r in records))
    others = [p for p in providers if p != BASELINE]
    header = (
        ["case", "layers"]
        + [f"{p} ms" for p in providers]
        + [f"{p} / plain" for p in others]
        + ([f"paper / {eks}"] if eks and "paper" in providers else [])
    )
    layers = {r["case"]: r["layers"] for r in records}
    rows = []
    for case in cases:
        row = [case, str(layers[case])] + [ms(times.get((case, p))) for p in providers]
        row += [fmt(ratio(times.get((case, p)), times.get((case, BASELINE)))) for p in others]
        if eks and "paper" in providers:
            row.append(fmt(ratio(times.get((case, "paper")), times.get((case, eks)))))
        rows.append(row)
    return table(header, rows)


def model_table(run: Run) -> List[str]:
    """The model-level problem in one sentence, then median ms and / plain (the same student's
    plain) per student and provider of the training step and of inference; nothing when the run
    has no model timings."""
    times = {
        (r["model"], r["what"], r["provider"]): r.median for r in records_of(run, "model", "time")
    }
    if not times:
        return []
    model = [r for r in run.records if r["suite"] == "model"]
    sample = model[0]
    backend = next((r["backend"] for r in model if r["backend"]), None) or "?"
    lines = [
        f"Batch {sample['batch']} at {sample['image_size']}×{sample['image_size']}, "
        f"{sample['num_tasks']} tasks, rank {sample['rank']}, uniform mix; the EKS layers "
        f"run on the `{backend}` backend.",
        "",
    ]
    rows = []
    for what in ("train", "inference"):
        for arch, provider in dict.fromkeys((m, p) for m, w, p in times if w == what):
            seconds = times[(arch, what, provider)]
            rows.append(
                [
                    arch,
                    what,
                    provider,
                    ms(seconds),
                    fmt(ratio(seconds, times.get((arch, what, BASELINE)))),
                ]
            )
    return lines + table(["student", "what", "provider", "median ms", "/ plain"], rows)


def memory_table(records: Sequence[Record]) -> List[str]:
    """One row per case of layer peak-memory records: plain's MiB, then each provider / plain."""
    if not records:
        return []
    peaks = by_case(records, "peak_bytes")
    others = [p for p in providers_in(records) if p != BASELINE]
    rows = []
    for case in dict.fromkeys(r["case"] for r in records):
        base = peaks.get((case, BASELINE))
        rows.append(
            [case, fmt((base or 0) / 2**20, 1)]
            + [fmt(ratio(peaks.get((case, p)), base)) for p in others]
        )
    return table(["case", "plain MiB"] + [f"{p} / plain" for p in others], rows)
