"""benchmarks.report.results: which benchmarks of the JSON files become records, and the
provider order and EKS backend the report is built around."""

from __future__ import annotations

from benchmarks.report.results import (
    Record,
    Run,
    by_case,
    eks_provider,
    load,
    providers_in,
    ratio,
    records_of,
)

from .bench_json import MACHINE, layer, model, write

CASE = "a-fwd+bwd-uniform-r4-b64"


def _records(*providers):
    return [
        Record({"suite": "layer", "metric": "time", "case": CASE, "provider": p}, 1.0)
        for p in providers
    ]


def test_later_file_wins_and_other_suites_are_left_out(tmp_path):
    foreign = {"fullname": "test_other", "extra_info": {}, "stats": {"median": 9.0}}
    first = write(
        tmp_path / "time.json",
        [layer(CASE, "plain", 0.010), layer(CASE, "cpu", 0.020), foreign],
        datetime="2026-01-01T00:00:00",
    )
    second = write(
        tmp_path / "again.json",
        [layer(CASE, "cpu", 0.015)],
        machine={**MACHINE, "bench_scope": "standard"},
        datetime="2026-01-02T00:00:00",
        commit="1234",
    )
    run = load([str(first), str(second)])
    assert {r["provider"]: r.median for r in run.records} == {"plain": 0.010, "cpu": 0.015}
    assert [(s.scope, s.count, s.commit["id"]) for s in run.sources] == [
        ("quick", 2, "abcdef1234567"),
        ("standard", 1, "1234"),
    ]
    assert run.datetime == "2026-01-02T00:00:00"
    assert run.machine["bench_scope"] == "standard"


def test_records_of_selects_suite_and_metric(tmp_path):
    run = load(
        [
            str(
                write(
                    tmp_path / "b.json",
                    [
                        layer(CASE, "plain", 0.01),
                        layer(CASE, "plain", 1.0, peak=2**20),
                        model("train", "plain", 0.3),
                        model("train", "plain", 1.0, peak=2**20),
                    ],
                )
            )
        ]
    )
    assert [r["metric"] for r in records_of(run, "layer", "peak_bytes")] == ["peak_bytes"]
    assert [r["suite"] for r in records_of(run, "model", "time")] == ["model"]
    peaks = by_case(records_of(run, "layer", "peak_bytes"), "peak_bytes")
    assert peaks == {(CASE, "plain"): 2**20}


def test_providers_in_report_order():
    records = _records("per_task_loop", "torch", "paper", "plain", "cpu")
    assert providers_in(records) == ["plain", "torch", "cpu", "paper", "per_task_loop"]
    assert providers_in(_records("paper", "cpu")) == ["cpu", "paper"]


def test_the_triton_forms_keep_their_run_order_among_the_backends():
    records = _records("plain", "triton", "triton_split", "triton_measured", "cuda", "paper")
    assert providers_in(records) == [
        "plain",
        "triton",
        "triton_split",
        "triton_measured",
        "cuda",
        "paper",
    ]
    # triton's default (auto without measuring) serves the split form: the targets judge it
    assert eks_provider(Run(records, {"lorkd_backend": "triton"}, []), records) == "triton_split"
    fused_only = _records("plain", "triton", "paper")
    assert eks_provider(Run(fused_only, {"lorkd_backend": "triton"}, []), fused_only) == "triton"


def test_eks_provider_prefers_the_backend_serving_the_device():
    records = _records("plain", "torch", "cpu", "paper")
    assert eks_provider(Run(records, {"lorkd_backend": "cpu"}, []), records) == "cpu"
    # the serving backend was not measured (e.g. --bench-providers): the first backend measured
    assert eks_provider(Run(records, {"lorkd_backend": "triton"}, []), records) == "torch"
    competitors = _records("plain", "paper")
    assert eks_provider(Run(competitors, MACHINE, []), competitors) is None


def test_ratio_is_none_without_both_values():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(3.0, None) is None and ratio(3.0, 0.0) is None
    assert ratio(0.0, 2.0) == 0.0
