"""``python -m benchmarks.report``: JSON in; markdown to a file, stdout or a README block; a PNG."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from . import __doc__ as PACKAGE_DOC
from .document import render
from .plot import plot
from .readme_block import write_block
from .results import load


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report", description=PACKAGE_DOC.split("\n\n")[0]
    )
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
        write_block(args.readme, report)
    if not args.markdown and not args.readme:
        print(report, end="")
    if args.plot:
        plot(run, args.plot)
    return 0
