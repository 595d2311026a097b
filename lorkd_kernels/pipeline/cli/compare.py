"""``python -m lorkd_kernels.compare``: LoRKD against the paper's baselines and its own ablations,
over seeds, each method's learning rate chosen on the validation split.

Writes ``OUT/comparison.json`` (every per-seed, per-task number, the command, the commit, the wall
time), ``OUT/comparison.md``, ``OUT/comparison.png`` and ``OUT/logs/<run>/`` (each run's epoch
log and configuration). Rerunning the same command continues an interrupted comparison.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lorkd_kernels.compare",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/compare", help="folder for the results")
    parser.add_argument("--quick", action="store_true",
                        help="the whole grid at toy size (checks the machinery in seconds, "
                             "says nothing about the methods)")
    parser.add_argument("--keep-runs", action="store_true",
                        help="keep every run's weights (tens of MB each) under OUT/runs")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild comparison.md and comparison.png from comparison.json")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    import json

    from ..comparison import grid, report
    from ..comparison.runner import Comparison, ComparisonError
    from . import train

    out = Path(args.out)
    if args.report_only:
        path = out / "comparison.json"
        if not path.is_file():
            print(f"lorkd_kernels.compare: error: {path} does not exist", file=sys.stderr)
            return 1
        print(report.write(json.loads(path.read_text()), out))
        return 0
    command = "python -m lorkd_kernels.compare " + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    budget = grid.QUICK if args.quick else grid.FULL
    out.mkdir(parents=True, exist_ok=True)
    try:
        comparison = Comparison(out, budget, train.main, command, keep_runs=args.keep_runs)
        record = comparison.run_all()
    except ComparisonError as err:
        print(f"lorkd_kernels.compare: error: {err}", file=sys.stderr)
        return 1
    print(report.write(record, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
