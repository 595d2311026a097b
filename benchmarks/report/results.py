"""pytest-benchmark JSON files of these suites, read into records, and the queries the tables,
targets and plot share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..names import BASELINE, COMPETITORS, SERVED_BY_DEFAULT


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
    machine: Dict  # of the last file
    sources: List[Source]

    @property
    def datetime(self) -> str:
        return self.sources[-1].datetime if self.sources else ""


def load(paths: Sequence[str]) -> Run:
    """Records of one or more JSON files (a later file wins for the same test), e.g. a timing run
    and a separate memory run on the same machine. Benchmarks of other suites (no ``suite`` in
    their ``extra_info``) are left out."""
    by_name: Dict[str, Record] = {}
    machine: Dict = {}
    sources = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        machine = data.get("machine_info", {})
        benches = [b for b in data.get("benchmarks", []) if "suite" in b.get("extra_info", {})]
        sources.append(
            Source(
                data.get("datetime", ""),
                data.get("commit_info", {}),
                machine.get("bench_scope", "?"),
                len(benches),
            )
        )
        for bench in benches:
            by_name[bench["fullname"]] = Record(bench["extra_info"], bench["stats"]["median"])
    return Run(list(by_name.values()), machine, sources)


#: the setting (layer records) and scale (model records) of ``--bench-scope paper``'s cases
PAPER_SCALE = "paper"


def is_paper_scale(record: Record) -> bool:
    """Whether a layer record belongs to the paper-scale cases (``--bench-scope paper``)."""
    return (record["setting"] or "").split(",")[0] == PAPER_SCALE


def records_of(run: Run, suite: str, metric: str) -> List[Record]:
    """The records of one suite ("layer" or "model") and metric ("time" or "peak_bytes")."""
    return [r for r in run.records if r["suite"] == suite and r["metric"] == metric]


def by_case(records: Iterable[Record], field: str = "median") -> Dict[Tuple[str, str], float]:
    """``{(case, provider): value}`` of layer records: the median seconds or ``extra_info``'s
    ``field``."""
    return {
        (r["case"], r["provider"]): r.median if field == "median" else r[field] for r in records
    }


def ratio(num: Optional[float], den: Optional[float]) -> Optional[float]:
    """``num / den``, or None when either is missing (or the denominator is zero)."""
    return num / den if num is not None and den else None


def providers_in(records: Iterable[Record]) -> List[str]:
    """Providers in report order: plain, lorkd backends, then the competitors."""
    seen = list(dict.fromkeys(r["provider"] for r in records))
    backends = [p for p in seen if p != BASELINE and p not in COMPETITORS]
    return (
        ([BASELINE] if BASELINE in seen else []) + backends + [p for p in COMPETITORS if p in seen]
    )


def eks_provider(run: Run, records: Sequence[Record]) -> Optional[str]:
    """The provider the targets are judged on: the form that serves the device's op by
    default, if measured, else the backend itself, else the first backend measured."""
    backends = [p for p in providers_in(records) if p != BASELINE and p not in COMPETITORS]
    serving = run.machine.get("lorkd_backend")
    for preferred in (SERVED_BY_DEFAULT.get(serving), serving):
        if preferred in backends:
            return preferred
    return backends[0] if backends else None
