"""Turn pytest-benchmark JSON from these suites into a markdown report and a PNG plot.

    python -m benchmarks.report bench.json --markdown report.md --plot benchmarks/results.png \
        [--readme benchmarks/README.md] [--command "the command that produced bench.json"] \
        [--note "a paragraph under the header"]

One job per module:

* :mod:`~benchmarks.report.results`: the JSON files read into records, and queries over them;
* :mod:`~benchmarks.report.tables`: markdown tables of medians and ratios to plain;
* :mod:`~benchmarks.report.targets`: the speed and memory targets judged on a run;
* :mod:`~benchmarks.report.document`: the whole markdown report, sections in order;
* :mod:`~benchmarks.report.plot`: the PNG;
* :mod:`~benchmarks.report.readme_block`: the report written into a README between markers;
* :mod:`~benchmarks.report.cli`: the command line (``python -m benchmarks.report``).

Every figure is a median, shown as a ratio against the plain layer or model measured in the same
run (docs/design.md, section "Benchmarks"). The report reads JSON only: nothing here imports
torch.
"""
