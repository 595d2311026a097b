"""``python -m lorkd_kernels.compare``: LoRKD against the paper's baselines and its own ablations,
over seeds, each method's learning rate chosen on the validation split.

Writes ``OUT/comparison.json`` (every per-seed, per-task number, the command, the commit, the wall
time), ``OUT/comparison.md``, ``OUT/comparison.png`` and ``OUT/logs/<run>/`` (each run's epoch
log and configuration). Rerunning the same command continues an interrupted comparison.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional, Sequence

from ... import __version__
from ..training.config import ConfigError
from .common import (
    CommandParser,
    DefaultsFormatter,
    add_command_flags,
    configure_logging,
    quiet_interrupt,
    run_command,
)


NAME = "lorkd_kernels.compare"


def build_parser() -> CommandParser:
    parser = CommandParser(
        name=NAME,
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        formatter_class=DefaultsFormatter,
    )
    parser.add_argument("--out", default="runs/compare", help="folder for the results")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the whole grid at toy size (checks the machinery in minutes, "
        "says nothing about the methods)",
    )
    parser.add_argument(
        "--keep-runs",
        action="store_true",
        help="keep every run's weights (tens of MB each) under OUT/runs",
    )
    parser.add_argument(
        "--reproduce",
        metavar="RUN",
        help="train the recorded run RUN (a key of comparison.json's runs, e.g. "
        "'lorkd|seed=0|lr=0.01') again under OUT/reproduced, evaluate it with "
        "lorkd_kernels.evaluate and check every test number against the "
        "JSON: equal where the CPU model, its instruction set, torch and its threads "
        "match the record, else within the cross-machine tolerance (exit 1 if not)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild comparison.md and comparison.png from comparison.json",
    )
    add_command_flags(parser, __version__)
    return parser


def _compare(args, command: str) -> int:
    import json

    from ..comparison import grid, report
    from ..comparison.runner import Comparison
    from . import train

    out = Path(args.out)
    if args.report_only:
        path = out / "comparison.json"
        if not path.is_file():
            raise ConfigError(f"--report-only: {path} does not exist")
        print(report.write(json.loads(path.read_text()), out))
        return 0
    budget = grid.QUICK if args.quick else grid.FULL
    if args.reproduce is not None:
        from . import evaluate

        if not (out / "comparison.json").is_file():
            raise ConfigError(f"--reproduce: {out / 'comparison.json'} does not exist")
        comparison = Comparison(out, budget, train.main, command)
        result = comparison.reproduce(args.reproduce, evaluate.main)
        print(report.reproduction_table(args.reproduce, result, comparison.record.get("machine")))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    comparison = Comparison(out, budget, train.main, command, keep_runs=args.keep_runs)
    comparison.run_all()
    # the report is built from the JSON file alone, as --report-only builds it
    print(report.write(json.loads(comparison.json_path.read_text()), out))
    return 0


@quiet_interrupt(NAME)
def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet, args.verbose)
    command = "python -m lorkd_kernels.compare " + shlex.join(
        sys.argv[1:] if argv is None else list(argv)
    )
    from ..comparison.runner import ComparisonError

    return run_command(
        NAME, lambda: _compare(args, command), (ComparisonError, OSError), args.debug
    )


if __name__ == "__main__":
    sys.exit(main())
