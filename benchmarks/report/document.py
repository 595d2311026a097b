"""The whole markdown report: where and how the run was measured, the target summary, then the
tables (conv and linear main setting, the sweep, the model level, peak memory)."""

from __future__ import annotations

from typing import List, Optional

from .results import Record, Run, eks_provider, is_paper_scale, records_of
from .tables import device_time_table, layer_time_table, memory_table, model_table
from .targets import (
    layer_summary,
    memory_summary,
    model_summary,
    paper_scale_summary,
)

MEMORY_TITLE = "### Peak memory, forward+backward (ratio to plain)"


def header(run: Run, command: Optional[str]) -> List[str]:
    """Which runs the figures come from, the machine and library versions, and the command."""
    m = run.machine
    device = m.get("bench_device_name") or m.get("bench_device", "?")
    runs = []
    for src in run.sources:
        dirty = " +changes" if src.commit.get("dirty") else ""
        runs.append(
            f"{src.datetime[:19].replace('T', ' ')} UTC (scope `{src.scope}`, "
            f"{src.count} benchmarks, commit {src.commit.get('id', '?')[:10]}{dirty})"
        )
    lines = [
        f"Measured {'; '.join(runs)} on {m.get('cpu_model', '?')} "
        f"({m.get('cpu', {}).get('count', '?')} logical CPUs, torch threads "
        f"{m.get('torch_threads', '?')}), device `{device}`, torch "
        f"{m.get('torch_version', '?')}, lorkd_kernels {m.get('lorkd_version', '?')}. "
        "Medians; ratios are against the plain layer measured in the same run."
    ]
    if command:
        lines += ["", "```bash", command, "```"]
    return lines


def _layer_sections(layer: List[Record], eks: Optional[str]) -> List[str]:
    """The conv and linear tables of the main setting, the paper's scale, then the sweep's."""
    main = [r for r in layer if r["setting"] == "main"]
    paper = [r for r in layer if is_paper_scale(r)]
    sweep = [r for r in layer if r["setting"] != "main" and not is_paper_scale(r)]
    out: List[str] = []
    for kind, title in (("conv", "Conv layers"), ("linear", "Linear layers")):
        rows = [r for r in main if r["kind"] == kind]
        if rows:
            s = rows[0]
            out += [
                "",
                f"### {title}, main setting ({s['image_size']} px input, batch "
                f"{s['batch']}, T = {s['num_tasks']}, rank {s['rank']}, {s['mix']} "
                f"mix, {s['pass']})",
                "",
            ]
            out += layer_time_table(rows, eks)
    if paper:
        s = paper[0]
        dtypes = " and ".join(dict.fromkeys(r["dtype"] for r in paper))
        out += [
            "",
            f"### Paper scale ({s['image_size']} px input, batch {s['batch']}, T = "
            f"{s['num_tasks']}, rank {s['rank']}, {s['mix']} mix, {s['pass']}; {dtypes})",
            "",
        ]
        out += layer_time_table(paper, eks)
        device = device_time_table(paper)
        if device:
            out += ["", "Device time (CUDA events, median of rounds), ratio to plain:", ""]
            out += device
    if sweep:
        out += ["", "### Sweep: one setting changed at a time, representative layers", ""]
        out += layer_time_table(sweep, eks)
    return out


def render(run: Run, command: Optional[str] = None, note: Optional[str] = None) -> str:
    """The report of ``run``; ``note`` is a paragraph placed under the header."""
    layer = records_of(run, "layer", "time")
    # the targets are judged on one backend; a run without layer timings has none to judge
    eks = eks_provider(run, layer) if layer else None
    model_targets, memory_targets = model_summary(run), memory_summary(run, eks)
    out = header(run, command) + (["", note] if note else [])
    if layer:
        summary = layer_summary(layer, eks) + paper_scale_summary(layer, eks)
        out += ["", "### Summary", ""] + summary + model_targets
        out += memory_targets + _layer_sections(layer, eks)
    model = model_table(run)
    if model:
        out += ["", "### Model level", ""] + model + ([""] + model_targets if model_targets else [])
    memory = memory_table(records_of(run, "layer", "peak_bytes"))
    if memory or memory_targets:
        out += ["", MEMORY_TITLE, ""] + memory
    return "\n".join(out).rstrip() + "\n"
