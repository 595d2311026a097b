"""benchmarks.report.tables: the cells and rows of the markdown tables."""

from __future__ import annotations

from benchmarks.report.results import load, records_of
from benchmarks.report.tables import (
    device_time_table,
    layer_time_table,
    memory_table,
    model_table,
    ms,
    table,
)

from .bench_json import layer, model, write

A, B = "a-fwd+bwd-uniform-r4-b64", "b-fwd+bwd-uniform-r4-b64"


def _run(tmp_path, benchmarks):
    return load([str(write(tmp_path / "bench.json", benchmarks))])


def test_ms_keeps_about_three_significant_digits():
    assert [ms(s) for s in (0.000123, 0.0123, 0.0999, 0.1234, 12.0)] == [
        "0.123",
        "12.3",
        "99.9",
        "123",
        "12000",
    ]
    assert ms(None) == "–"


def test_table_has_a_separator_per_column():
    assert table(["x", "y"], [["1", "2"]]) == ["| x | y |", "|---|---|", "| 1 | 2 |"]


def test_layer_time_table_ratios_and_missing_cells(tmp_path):
    run = _run(
        tmp_path,
        [
            layer(A, "plain", 0.010),
            layer(A, "cpu", 0.015),
            layer(A, "paper", 0.030),
            layer(B, "plain", 0.020),
            layer(B, "paper", 0.040),
        ],
    )
    lines = layer_time_table(records_of(run, "layer", "time"), "cpu")
    assert lines[0] == (
        "| case | layers | plain ms | cpu ms | paper ms | cpu / plain | "
        "paper / plain | paper / cpu |"
    )
    assert lines[2] == f"| {A} | 2 | 10.0 | 15.0 | 30.0 | 1.50 | 3.00 | 2.00 |"
    assert lines[3] == f"| {B} | 2 | 20.0 | – | 40.0 | – | 2.00 | – |"
    # without an EKS backend there is no paper / EKS column
    assert layer_time_table(records_of(run, "layer", "time"), None)[0].endswith("| paper / plain |")


def test_model_table_lists_train_then_inference(tmp_path):
    run = _run(
        tmp_path,
        [
            model("inference", "plain", 0.10),
            model("train", "plain", 0.30),
            model("train", "eks", 0.45),
            model("inference", "expert", 0.12),
        ],
    )
    lines = model_table(run)
    assert lines[0].startswith("Batch 128 at 64×64, 10 tasks, rank 4")
    assert "`cpu` backend" in lines[0]
    s = "shufflenet_v2_x1_0"
    assert lines[-4:] == [
        f"| {s} | train | plain | 300 | 1.00 |",
        f"| {s} | train | eks | 450 | 1.50 |",
        f"| {s} | inference | plain | 100 | 1.00 |",
        f"| {s} | inference | expert | 120 | 1.20 |",
    ]
    assert model_table(_run(tmp_path, [layer(A, "plain", 0.01)])) == []


def test_model_table_compares_each_student_with_its_own_plain(tmp_path):
    run = _run(
        tmp_path,
        [
            model("train", "plain", 0.30),
            model("train", "eks", 0.45),
            model("train", "plain", 1.00, arch="resnet18"),
            model("train", "eks", 1.10, arch="resnet18"),
        ],
    )
    assert model_table(run)[-2:] == [
        "| resnet18 | train | plain | 1000 | 1.00 |",
        "| resnet18 | train | eks | 1100 | 1.10 |",
    ]


def test_memory_table_is_mib_of_plain_and_ratios(tmp_path):
    run = _run(
        tmp_path, [layer(A, "plain", 1.0, peak=4 * 2**20), layer(A, "cpu", 1.0, peak=5 * 2**20)]
    )
    lines = memory_table(records_of(run, "layer", "peak_bytes"))
    assert lines == ["| case | plain MiB | cpu / plain |", "|---|---|---|", f"| {A} | 4.0 | 1.25 |"]
    assert memory_table([]) == []


def test_device_time_table_from_a_gpu_run(tmp_path):
    gpu = _run(
        tmp_path,
        [
            layer("a", "plain", 1.0, device=(0.002, 0.001)),
            layer("a", "triton", 1.0, device=(0.003, 0.0012)),
        ],
    )
    assert device_time_table(records_of(gpu, "layer", "time")) == [
        "| case | plain ms | plain fwd ms | triton / plain | triton / plain fwd |",
        "|---|---|---|---|---|",
        "| a | 2.0 | 1.0 | 1.50 | 1.20 |",
    ]
    cpu = _run(tmp_path, [layer("a", "plain", 1.0), layer("a", "cpu", 1.0)])
    assert device_time_table(records_of(cpu, "layer", "time")) == []


def test_model_table_names_the_dtype_where_a_run_has_two(tmp_path):
    run = _run(
        tmp_path,
        [
            model("train", "plain", 0.2, scale="paper", dtype="float32"),
            model("train", "plain", 0.1, scale="paper", dtype="bfloat16"),
            model("train", "eks", 0.11, scale="paper", dtype="bfloat16"),
        ],
    )
    rows = model_table(run)[2:]
    assert rows[0] == "| student | what | dtype | provider | median ms | / plain |"
    assert rows[-1] == "| shufflenet_v2_x1_0 | train | bfloat16 | eks | 110 | 1.10 |"
