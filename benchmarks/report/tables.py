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


def device_time_table(records: Sequence[Record]) -> List[str]:
    """Where the records carry CUDA-event device times (a GPU run): one row per case, plain's
    device ms forward+backward and forward, then each provider / plain for both."""
    timed = [r for r in records if r["device_seconds"] is not None]
    if not timed:
        return []
    whole = by_case(timed, "device_seconds")
    forward = by_case(timed, "forward_device_seconds")
    others = [p for p in providers_in(timed) if p != BASELINE]
    header = ["case", "plain ms", "plain fwd ms"]
    header += [f"{p} / plain{suffix}" for p in others for suffix in ("", " fwd")]
    rows = []
    for case in dict.fromkeys(r["case"] for r in timed):
        row = [case, ms(whole.get((case, BASELINE))), ms(forward.get((case, BASELINE)))]
        for p in others:
            row.append(fmt(ratio(whole.get((case, p)), whole.get((case, BASELINE)))))
            row.append(fmt(ratio(forward.get((case, p)), forward.get((case, BASELINE)))))
        rows.append(row)
    return table(header, rows)


def model_table(run: Run) -> List[str]:
    """The model-level problem in one sentence, then median ms and / plain (the same student's
    plain) per student and provider of the training step and of inference; nothing when the run
    has no model timings."""
    times = {
        (r["model"], r["what"], r["provider"], r["dtype"] or "float32"): r.median
        for r in records_of(run, "model", "time")
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
    # the dtype column where a run computed in more than float32 (the paper-scale runs)
    with_dtype = any(d != "float32" for *_, d in times)
    rows = []
    for what in ("train", "inference"):
        for arch, provider, dtype in dict.fromkeys((m, p, d) for m, w, p, d in times if w == what):
            seconds = times[(arch, what, provider, dtype)]
            rows.append(
                [arch, what]
                + ([dtype] if with_dtype else [])
                + [
                    provider,
                    ms(seconds),
                    fmt(ratio(seconds, times.get((arch, what, BASELINE, dtype)))),
                ]
            )
    header = ["student", "what"] + (["dtype"] if with_dtype else [])
    header += ["provider", "median ms", "/ plain"]
    return lines + table(header, rows)


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
