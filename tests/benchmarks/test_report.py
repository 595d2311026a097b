"""The benchmark report end to end on a small hand-made pytest-benchmark JSON: ratios, targets,
README block, plot."""

from __future__ import annotations

import pytest

from benchmarks.report import cli, document, results
from benchmarks.report.readme_block import README_END, README_START, replace_block

from .bench_json import layer, model, write


@pytest.fixture
def bench_json(tmp_path):
    benchmarks = [
        layer("a-fwd+bwd-uniform-r4-b64", "plain", 0.010),
        layer("a-fwd+bwd-uniform-r4-b64", "cpu", 0.009),
        layer("a-fwd+bwd-uniform-r4-b64", "paper", 0.030),
        layer("b-fwd+bwd-uniform-r4-b64", "plain", 0.020),
        layer("b-fwd+bwd-uniform-r4-b64", "cpu", 0.024),
        layer("b-fwd+bwd-uniform-r4-b64", "paper", 0.060),
        layer("c-fwd+bwd-uniform-r4-b64", "plain", 0.001, kind="linear"),
        layer("c-fwd+bwd-uniform-r4-b64", "cpu", 0.001, kind="linear"),
        layer("a-fwd+bwd-uniform-r16-b64", "plain", 0.010, setting="rank=16"),
        layer("a-fwd+bwd-uniform-r16-b64", "cpu", 0.050, setting="rank=16"),
        layer("a-fwd+bwd-uniform-r4-b64", "plain", 1.0, peak=1000 * 2**20),
        layer("a-fwd+bwd-uniform-r4-b64", "cpu", 1.0, peak=1050 * 2**20),
        model("train", "plain", 0.30),
        model("train", "eks", 0.40),
        model("train", "paper", 1.60),
        model("inference", "plain", 0.10),
        model("inference", "expert", 0.10),
        model("train", "plain", 1.0, peak=100 * 2**20),
        model("train", "eks", 1.0, peak=120 * 2**20),
    ]
    return write(tmp_path / "bench.json", benchmarks)


def test_summary_ratios_and_targets(bench_json):
    text = document.render(results.load([str(bench_json)]), command="pytest benchmarks")
    # main setting: a 0.90, b 1.20, c 1.00 -> median 1.00, worst 1.20 (b); the sweep stays out
    assert (
        "`cpu` / plain, forward+backward, main setting (3 layer shapes): median **1.00×**, "
        "worst **1.20×** (b-fwd+bwd-uniform-r4-b64)" in text
    )
    assert "≤ 1.05× median (met), ≤ 1.30× worst (met)" in text
    assert "paper / `cpu`: median 2.92×, range 2.50×–3.33×" in text
    assert "paper / EKS **4.00×** (target ≥ 5× (missed))" in text
    assert "EKS speed vs plain **0.75×**" in text
    assert "worst **1.05×** (target ≤ 1.5× (met))" in text
    assert "eks 120 MiB (1.20×)" in text and "(missed)" in text
    assert "| a-fwd+bwd-uniform-r16-b64 | 2 | 10.0 | 50.0 | 5.00 |" in text
    assert "Test CPU" in text and "```bash\npytest benchmarks\n```" in text


def test_cli_writes_readme_block_and_plot(bench_json, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    plot = tmp_path / "plot.png"
    assert cli.main([str(bench_json), "--readme", str(readme), "--plot", str(plot)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n")
    assert text.rstrip().endswith(f"{README_END}\noutro")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_without_markers_is_an_error():
    with pytest.raises(ValueError, match="results:start"):
        replace_block("no markers", "table")


def test_cli_prints_the_report_without_markdown_or_readme(bench_json, capsys):
    assert cli.main([str(bench_json)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Measured 2026-01-02 03:04:05 UTC (scope `quick`, 19 benchmarks")
    assert "### Peak memory" in out


def test_cli_rejects_json_without_these_suites(tmp_path, capsys):
    other = write(
        tmp_path / "other.json", [{"fullname": "t", "extra_info": {}, "stats": {"median": 1.0}}]
    )
    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(other)])
    assert exit_info.value.code == 2
    assert "no benchmark of these suites" in capsys.readouterr().err
