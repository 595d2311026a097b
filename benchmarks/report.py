"""Turn pytest-benchmark JSON from these suites into a markdown report and a PNG plot.

    python -m benchmarks.report bench.json --markdown report.md --plot benchmarks/results.png \
        [--readme benchmarks/README.md] [--command "the command that produced bench.json"]

Every figure is a median, shown as a ratio against the plain layer or model measured in the same
run (DESIGN.md section 6). The summary checks the speed and memory targets of the CPU work
(issue #5): EKS forward+backward over the layer suite's main setting at most 1.00x plain as the
median and 1.15x at worst; the model-level training step at least 5x faster than the paper's
formulation and at least 0.95x as fast as plain; peak memory at most 1.1x plain. ``--readme``
replaces the block between the ``results:start`` / ``results:end`` markers of that file.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

BASELINE = "plain"
COMPETITORS = ("paper", "per_task_loop")
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
LAYER_MEDIAN_TARGET, LAYER_WORST_TARGET = 1.00, 1.15
PAPER_SPEEDUP_TARGET, PLAIN_SPEED_TARGET, MEMORY_TARGET = 5.0, 0.95, 1.10


@dataclass
class Record:
    """One benchmark of the JSON: its ``extra_info`` plus the median seconds."""

    info: Dict
    median: float

    def __getitem__(self, key):
        return self.info.get(key)


@dataclass
class Source:
    """One JSON file: when and from which commit it was measured, and in which scope."""

    datetime: str
    commit: Dict
    scope: str
    count: int


@dataclass
class Run:
    records: List[Record]
    machine: Dict                       # of the last file
    sources: List[Source]

    @property
    def datetime(self) -> str:
        return self.sources[-1].datetime if self.sources else ""


def load(paths: Sequence[str]) -> Run:
    """Records of one or more JSON files (a later file wins for the same test), e.g. a timing run
    and a separate memory run on the same machine."""
    by_name: Dict[str, Record] = {}
    machine: Dict = {}
    sources = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        machine = data.get("machine_info", {})
        benches = [b for b in data.get("benchmarks", []) if "suite" in b.get("extra_info", {})]
        sources.append(Source(data.get("datetime", ""), data.get("commit_info", {}),
                              machine.get("bench_scope", "?"), len(benches)))
        for bench in benches:
            by_name[bench["fullname"]] = Record(bench["extra_info"], bench["stats"]["median"])
    return Run(list(by_name.values()), machine, sources)


# ----------------------------------------------------------------------------- helpers


def _ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    return num / den if num is not None and den else None


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ms(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _values(records: Iterable[Record], key: str, value: str = "median") -> Dict:
    """``{(case key, provider): value}`` for layer records or ``{provider: value}`` otherwise."""
    out = {}
    for r in records:
        v = r.median if value == "median" else r[value]
        out[(r[key], r["provider"]) if key else r["provider"]] = v
    return out


def providers_in(records: Iterable[Record]) -> List[str]:
    """Providers in report order: plain, lorkd backends, then the competitors."""
    seen = list(dict.fromkeys(r["provider"] for r in records))
    backends = [p for p in seen if p != BASELINE and p not in COMPETITORS]
    return ([BASELINE] if BASELINE in seen else []) + backends + [p for p in COMPETITORS
                                                                  if p in seen]


def eks_provider(run: Run, records: Sequence[Record]) -> Optional[str]:
    """The backend the targets are judged on: the one serving the device's op, if measured."""
    backends = [p for p in providers_in(records) if p != BASELINE and p not in COMPETITORS]
    preferred = run.machine.get("lorkd_backend")
    return preferred if preferred in backends else (backends[0] if backends else None)


def _layer_records(run: Run, metric: str) -> List[Record]:
    return [r for r in run.records if r["suite"] == "layer" and r["metric"] == metric]


# ----------------------------------------------------------------------------- sections


def layer_time_table(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """One row per case: median ms per provider, then each provider / plain and paper / EKS."""
    providers = providers_in(records)
    times = _values(records, "case")
    cases = list(dict.fromkeys(r["case"] for r in records))
    others = [p for p in providers if p != BASELINE]
    header = (["case", "layers"] + [f"{p} ms" for p in providers] + [f"{p} / plain" for p in others]
              + ([f"paper / {eks}"] if eks and "paper" in providers else []))
    layers = {r["case"]: r["layers"] for r in records}
    rows = []
    for case in cases:
        row = [case, str(layers[case])] + [_ms(times.get((case, p))) for p in providers]
        row += [_fmt(_ratio(times.get((case, p)), times.get((case, BASELINE)))) for p in others]
        if eks and "paper" in providers:
            row.append(_fmt(_ratio(times.get((case, "paper")), times.get((case, eks)))))
        rows.append(row)
    return _table(header, rows)


def layer_summary(records: Sequence[Record], eks: Optional[str]) -> List[str]:
    """Median and worst EKS / plain over the main-setting forward+backward cases."""
    main = [r for r in records if r["setting"] == "main" and r["pass"] == "fwd+bwd"]
    times = _values(main, "case")
    lines = []
    for provider in [p for p in providers_in(main) if p != BASELINE]:
        ratios = {case: _ratio(times.get((case, provider)), times.get((case, BASELINE)))
                  for case in dict.fromkeys(r["case"] for r in main)}
        ratios = {c: v for c, v in ratios.items() if v is not None}
        if not ratios:
            continue
        worst = max(ratios, key=ratios.get)
        median = statistics.median(ratios.values())
        line = (f"* `{provider}` / plain, forward+backward, main setting ({len(ratios)} layer "
                f"shapes): median **{median:.2f}×**, worst **{ratios[worst]:.2f}×** ({worst})")
        if provider == eks:
            line += (f" — targets ≤ {LAYER_MEDIAN_TARGET:.2f}× median "
                     f"{_verdict(median <= LAYER_MEDIAN_TARGET)}, ≤ {LAYER_WORST_TARGET:.2f}× "
                     f"worst {_verdict(ratios[worst] <= LAYER_WORST_TARGET)}")
        lines.append(line)
    if eks:
        speedups = [v for v in (_ratio(times.get((case, "paper")), times.get((case, eks)))
                                for case in dict.fromkeys(r["case"] for r in main)) if v]
        if speedups:
            lines.append(f"* paper / `{eks}`: median {statistics.median(speedups):.2f}×, "
                         f"range {min(speedups):.2f}×–{max(speedups):.2f}×")
    return lines


def _verdict(ok: bool) -> str:
    return "(met)" if ok else "(missed)"


def model_section(run: Run) -> List[str]:
    times = {(r["what"], r["provider"]): r.median for r in run.records
             if r["suite"] == "model" and r["metric"] == "time"}
    if not times:
        return []
    model = [r for r in run.records if r["suite"] == "model"]
    sample = model[0]
    backend = next((r["backend"] for r in model if r["backend"]), None) or "?"
    lines = [f"{sample['model']}, batch {sample['batch']} at "
             f"{sample['image_size']}×{sample['image_size']}, {sample['num_tasks']} tasks, rank "
             f"{sample['rank']}, uniform mix; the EKS layers run on the `{backend}` backend.", ""]
    rows = []
    for what in ("train", "inference"):
        for provider in dict.fromkeys(p for w, p in times if w == what):
            t = times[(what, provider)]
            rows.append([what, provider, _ms(t), _fmt(_ratio(t, times.get((what, BASELINE))))])
    lines += _table(["what", "provider", "median ms", "/ plain"], rows)
    train = {p: t for (w, p), t in times.items() if w == "train"}
    if {"eks", "paper", BASELINE} <= set(train):
        speedup, speed = train["paper"] / train["eks"], train[BASELINE] / train["eks"]
        lines += ["", f"* training step: paper / EKS **{speedup:.2f}×** (target ≥ "
                      f"{PAPER_SPEEDUP_TARGET:.0f}× {_verdict(speedup >= PAPER_SPEEDUP_TARGET)}); "
                      f"EKS speed vs plain **{speed:.2f}×** (target ≥ {PLAIN_SPEED_TARGET:.2f}× "
                      f"{_verdict(speed >= PLAIN_SPEED_TARGET)})"]
    return lines


def memory_section(run: Run, eks: Optional[str]) -> List[str]:
    layer = _layer_records(run, "peak_bytes")
    model = {r["provider"]: r["peak_bytes"] for r in run.records
             if r["suite"] == "model" and r["metric"] == "peak_bytes"}
    if not layer and not model:
        return []
    lines = []
    if layer:
        peaks = _values(layer, "case", "peak_bytes")
        providers = providers_in(layer)
        rows = []
        for case in dict.fromkeys(r["case"] for r in layer):
            base = peaks.get((case, BASELINE))
            rows.append([case, _fmt((base or 0) / 2**20, 1)] +
                        [_fmt(_ratio(peaks.get((case, p)), base))
                         for p in providers if p != BASELINE])
        lines += _table(["case", "plain MiB"] + [f"{p} / plain" for p in providers
                                                  if p != BASELINE], rows)
        lines.append("")
        for provider in [p for p in providers if p != BASELINE]:
            ratios = [v for v in (_ratio(peaks.get((c, provider)), peaks.get((c, BASELINE)))
                                  for c in dict.fromkeys(r["case"] for r in layer)) if v]
            if ratios:
                line = (f"* layer peak memory `{provider}` / plain: median "
                        f"{statistics.median(ratios):.2f}×, worst **{max(ratios):.2f}×**")
                if provider == eks:
                    line += (f" (target ≤ {MEMORY_TARGET:.1f}× "
                             f"{_verdict(max(ratios) <= MEMORY_TARGET)})")
                lines.append(line)
    if model and model.get(BASELINE):
        parts = [f"{p} {model[p] / 2**20:.0f} MiB ({model[p] / model[BASELINE]:.2f}×)"
                 for p in model]
        line = "* model training step peak memory: " + ", ".join(parts)
        if "eks" in model:
            line += (f" — EKS target ≤ {MEMORY_TARGET:.1f}× plain "
                     f"{_verdict(model['eks'] / model[BASELINE] <= MEMORY_TARGET)}")
        lines.append(line)
    return lines


def header(run: Run, command: Optional[str]) -> List[str]:
    m = run.machine
    device = m.get("bench_device_name") or m.get("bench_device", "?")
    runs = []
    for src in run.sources:
        dirty = " +changes" if src.commit.get("dirty") else ""
        runs.append(f"{src.datetime[:19].replace('T', ' ')} UTC (scope `{src.scope}`, "
                    f"{src.count} benchmarks, commit {src.commit.get('id', '?')[:10]}{dirty})")
    lines = [f"Measured {'; '.join(runs)} on {m.get('cpu_model', '?')} "
             f"({m.get('cpu', {}).get('count', '?')} logical CPUs, torch threads "
             f"{m.get('torch_threads', '?')}), device `{device}`, torch "
             f"{m.get('torch_version', '?')}, lorkd_kernels {m.get('lorkd_version', '?')}. "
             "Medians; ratios are against the plain layer measured in the same run."]
    if command:
        lines += ["", "```bash", command, "```"]
    return lines


def render(run: Run, command: Optional[str] = None, note: Optional[str] = None) -> str:
    layer = _layer_records(run, "time")
    eks = eks_provider(run, layer) if layer else None
    out = header(run, command) + (["", note] if note else [])
    if layer:
        main = [r for r in layer if r["setting"] == "main"]
        sweep = [r for r in layer if r["setting"] != "main"]
        out += ["", "### Summary", ""] + layer_summary(layer, eks)
        model = model_section(run)
        memory = memory_section(run, eks)
        out += [line for line in model if line.startswith("* ")]
        out += [line for line in memory if line.startswith("* ")]
        for kind, title in (("conv", "Conv layers"), ("linear", "Linear layers")):
            rows = [r for r in main if r["kind"] == kind]
            if rows:
                s = rows[0]
                out += ["", f"### {title}, main setting ({s['image_size']} px input, batch "
                            f"{s['batch']}, T = {s['num_tasks']}, rank {s['rank']}, {s['mix']} "
                            f"mix, {s['pass']})", ""]
                out += layer_time_table(rows, eks)
        if sweep:
            out += ["", "### Sweep: one setting changed at a time, representative layers", ""]
            out += layer_time_table(sweep, eks)
    else:
        model, memory = model_section(run), memory_section(run, None)
    if model:
        out += ["", "### Model level", ""] + model
    if memory:
        out += ["", "### Peak memory, forward+backward (ratio to plain)", ""] + [
            line for line in memory if not line.startswith("* ")]
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- plot


def plot(run: Run, path: str) -> None:
    """Bars of provider / plain per main-setting layer case (log scale), and the model level."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    layer = [r for r in _layer_records(run, "time") if r["setting"] == "main"]
    model = {r["provider"]: r.median for r in run.records
             if r["suite"] == "model" and r["metric"] == "time" and r["what"] == "train"}
    cases = list(dict.fromkeys(r["case"] for r in layer))
    providers = [p for p in providers_in(layer) if p != BASELINE]
    times = _values(layer, "case")
    fig, (ax, ax_model) = plt.subplots(
        1, 2, figsize=(max(8.0, 0.45 * len(cases) + 4), 5.5),
        gridspec_kw={"width_ratios": [max(len(cases), 1), 3]})
    # one colour per provider in both panels; the model level's "eks" runs on the EKS backend
    colors = {p: f"C{i}" for i, p in enumerate(providers)}
    colors.update({BASELINE: "0.6", "eks": colors.get(eks_provider(run, layer) or "", "C0")})
    width = 0.8 / max(len(providers), 1)
    x = np.arange(len(cases))
    for i, provider in enumerate(providers):
        ratios = [_ratio(times.get((c, provider)), times.get((c, BASELINE))) or np.nan
                  for c in cases]
        ax.bar(x + (i - (len(providers) - 1) / 2) * width, ratios, width, label=provider,
               color=colors[provider])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(x, [c.split("-fwd")[0] for c in cases], rotation=75, fontsize=7)
    ax.set_ylabel("time / plain (median, log scale)")
    ax.set_title("layers, main setting")
    ax.legend(fontsize=8)
    if model.get(BASELINE):
        names = list(model)
        ax_model.bar(names, [model[n] / model[BASELINE] for n in names],
                     color=[colors.get(n, "C9") for n in names])
        ax_model.axhline(1.0, color="black", linewidth=0.8)
        ax_model.set_title("training step / plain")
    else:
        ax_model.set_axis_off()
    fig.suptitle(f"{run.machine.get('bench_device_name', '?')}, torch "
                 f"{run.machine.get('torch_version', '?')}, {run.datetime[:10]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- CLI


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between the results markers replaced by ``block``."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the file has no {README_START} ... {README_END} block")
    return text[:start + len(README_START)] + "\n" + block + text[end:]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", nargs="+", help="pytest-benchmark JSON file(s)")
    parser.add_argument("--markdown", help="write the report here (default: stdout)")
    parser.add_argument("--plot", help="write a PNG plot here")
    parser.add_argument("--readme", help="replace the results block of this markdown file")
    parser.add_argument("--command", help="the command that produced the JSON, quoted in it")
    parser.add_argument("--note", help="a paragraph placed under the header (e.g. conditions)")
    args = parser.parse_args(argv)
    run = load(args.json)
    if not run.records:
        parser.error("no benchmark of these suites in the JSON")
    report = render(run, args.command, args.note)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report)
    if args.readme:
        with open(args.readme) as f:
            text = f.read()
        with open(args.readme, "w") as f:
            f.write(replace_block(text, report))
    if not args.markdown and not args.readme:
        print(report, end="")
    if args.plot:
        plot(run, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
