"""benchmarks/report.py on a small hand-made pytest-benchmark JSON: ratios, targets, README block,
plot."""

from __future__ import annotations

import json

import pytest

from benchmarks import report

MACHINE = {"cpu_model": "Test CPU", "torch_version": "2.x", "lorkd_backend": "cpu",
           "bench_device_name": "cpu", "bench_scope": "quick", "cpu": {"count": 2}}


def _layer(case, provider, median, setting="main", kind="conv", peak=None):
    info = {"suite": "layer", "kind": kind, "case": case, "shape": case.split("-")[0],
            "layers": 2, "image_size": 64, "batch": 64, "rank": 4, "num_tasks": 10,
            "mix": "uniform", "pass": "fwd+bwd", "setting": setting, "provider": provider,
            "metric": "time" if peak is None else "peak_bytes"}
    if peak is not None:
        info["peak_bytes"] = peak
    name = f"{'mem' if peak else 'time'}[{case}-{provider}]"
    return {"fullname": name, "name": name, "group": case, "extra_info": info,
            "stats": {"median": median}}


def _model(what, provider, median, peak=None):
    info = {"suite": "model", "model": "shufflenet_v2_x1_0", "what": what, "provider": provider,
            "batch": 128, "image_size": 64, "num_tasks": 10, "rank": 4, "backend": "cpu",
            "metric": "time" if peak is None else "peak_bytes"}
    if peak is not None:
        info["peak_bytes"] = peak
    name = f"{what}{'-mem' if peak else ''}[{provider}]"
    return {"fullname": name, "name": name, "group": what, "extra_info": info,
            "stats": {"median": median}}


@pytest.fixture
def bench_json(tmp_path):
    benchmarks = [
        _layer("a-fwd+bwd-uniform-r4-b64", "plain", 0.010),
        _layer("a-fwd+bwd-uniform-r4-b64", "cpu", 0.009),
        _layer("a-fwd+bwd-uniform-r4-b64", "paper", 0.030),
        _layer("b-fwd+bwd-uniform-r4-b64", "plain", 0.020),
        _layer("b-fwd+bwd-uniform-r4-b64", "cpu", 0.024),
        _layer("b-fwd+bwd-uniform-r4-b64", "paper", 0.060),
        _layer("c-fwd+bwd-uniform-r4-b64", "plain", 0.001, kind="linear"),
        _layer("c-fwd+bwd-uniform-r4-b64", "cpu", 0.001, kind="linear"),
        _layer("a-fwd+bwd-uniform-r16-b64", "plain", 0.010, setting="rank=16"),
        _layer("a-fwd+bwd-uniform-r16-b64", "cpu", 0.050, setting="rank=16"),
        _layer("a-fwd+bwd-uniform-r4-b64", "plain", 1.0, peak=1000 * 2**20),
        _layer("a-fwd+bwd-uniform-r4-b64", "cpu", 1.0, peak=1050 * 2**20),
        _model("train", "plain", 0.30), _model("train", "eks", 0.40),
        _model("train", "paper", 1.60),
        _model("inference", "plain", 0.10), _model("inference", "expert", 0.10),
        _model("train", "plain", 1.0, peak=100 * 2**20),
        _model("train", "eks", 1.0, peak=120 * 2**20),
    ]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"machine_info": MACHINE, "datetime": "2026-01-02T03:04:05",
                                "commit_info": {"id": "abcdef1234567", "dirty": False},
                                "benchmarks": benchmarks}))
    return path


def test_summary_ratios_and_targets(bench_json):
    text = report.render(report.load([str(bench_json)]), command="pytest benchmarks")
    # main setting: a 0.90, b 1.20, c 1.00 -> median 1.00, worst 1.20 (b); the sweep stays out
    assert "`cpu` / plain, forward+backward, main setting (3 layer shapes): median **1.00×**, " \
           "worst **1.20×** (b-fwd+bwd-uniform-r4-b64)" in text
    assert "≤ 1.00× median (met), ≤ 1.15× worst (missed)" in text
    assert "paper / `cpu`: median 2.92×, range 2.50×–3.33×" in text
    assert "paper / EKS **4.00×** (target ≥ 5× (missed))" in text
    assert "EKS speed vs plain **0.75×**" in text
    assert "worst **1.05×** (target ≤ 1.1× (met))" in text
    assert "eks 120 MiB (1.20×)" in text and "(missed)" in text
    assert "| a-fwd+bwd-uniform-r16-b64 | 2 | 10.0 | 50.0 | 5.00 |" in text
    assert "Test CPU" in text and "```bash\npytest benchmarks\n```" in text


def test_cli_writes_readme_block_and_plot(bench_json, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold table\n{report.README_END}\noutro\n")
    plot = tmp_path / "plot.png"
    assert report.main([str(bench_json), "--readme", str(readme), "--plot", str(plot)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n")
    assert text.rstrip().endswith(f"{report.README_END}\noutro")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_without_markers_is_an_error():
    with pytest.raises(ValueError, match="results:start"):
        report.replace_block("no markers", "table")
