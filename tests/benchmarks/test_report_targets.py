"""benchmarks.report.targets: each target's verdict on both sides of its threshold, and which
measurements it is judged on."""

from __future__ import annotations

import pytest

from benchmarks.report.results import load, records_of
from benchmarks.report.targets import (
    layer_summary,
    memory_summary,
    model_summary,
    paper_scale_summary,
)

from .bench_json import layer, model, write


def _run(tmp_path, benchmarks):
    return load([str(write(tmp_path / "bench.json", benchmarks))])


@pytest.mark.parametrize("worst,verdict", [(1.30, "(met)"), (1.31, "(missed)")])
def test_layer_worst_target_threshold(tmp_path, worst, verdict):
    run = _run(
        tmp_path,
        [
            layer("a", "plain", 1.0),
            layer("a", "cpu", 0.9),
            layer("b", "plain", 1.0),
            layer("b", "cpu", worst),
            layer("c", "plain", 1.0),
            layer("c", "cpu", 1.0),
        ],
    )
    (line,) = layer_summary(records_of(run, "layer", "time"), "cpu")
    assert f"median **1.00×**, worst **{worst:.2f}×** (b)" in line
    assert line.endswith(f"≤ 1.05× median (met), ≤ 1.30× worst {verdict}")


@pytest.mark.parametrize("median,verdict", [(1.05, "(met)"), (1.06, "(missed)")])
def test_layer_median_target_threshold(tmp_path, median, verdict):
    run = _run(
        tmp_path,
        [layer(c, p, 1.0 if p == "plain" else median) for c in "abc" for p in ("plain", "cpu")],
    )
    (line,) = layer_summary(records_of(run, "layer", "time"), "cpu")
    assert f"≤ 1.05× median {verdict}" in line


def test_layer_summary_judges_only_main_forward_backward_on_the_eks_backend(tmp_path):
    run = _run(
        tmp_path,
        [
            layer("a", "plain", 1.0),
            layer("a", "torch", 1.0),
            layer("a", "cpu", 1.0),
            layer("s", "plain", 1.0, setting="rank=16"),
            layer("s", "cpu", 9.0, setting="rank=16"),
        ],
    )
    lines = layer_summary(records_of(run, "layer", "time"), "cpu")
    assert len(lines) == 2 and "(1 layer shapes)" in lines[0]
    assert "targets" not in lines[0] and "targets" in lines[1]  # torch first, cpu judged


@pytest.mark.parametrize(
    "eks,verdicts", [(0.30, ("(met)", "(met)")), (0.33, ("(missed)", "(missed)"))]
)
def test_model_summary_thresholds(tmp_path, eks, verdicts):
    run = _run(
        tmp_path,
        [model("train", "plain", 0.30), model("train", "paper", 1.50), model("train", "eks", eks)],
    )
    (line,) = model_summary(run)
    assert line.startswith("* shufflenet_v2_x1_0 training step: paper / EKS")
    assert f"(target ≥ 5× {verdicts[0]})" in line
    assert f"(target ≥ 0.95× {verdicts[1]})" in line


def test_model_summary_judges_each_student_and_states_the_measuring_cost(tmp_path):
    run = _run(
        tmp_path,
        [
            model("train", p, t, arch=a)
            for a in ("shufflenet_v2_x1_0", "resnet18")
            for p, t in (
                ("plain", 0.30),
                ("paper", 3.0),
                ("eks", 0.40),
                ("eks_measured", 0.31),
                ("eks_measuring", 0.90),
            )
        ],
    )
    lines = model_summary(run)
    assert len(lines) == 6 and lines[3].startswith("* resnet18 training step: paper / EKS")
    assert "speed vs plain **0.97×** (target ≥ 0.95× (met))" in lines[1]
    assert lines[2] == (
        "* shufflenet_v2_x1_0 first step with measuring on (`eks_measuring`: "
        "every conv shape timed): 900 ms, 590 ms more than a step that reuses "
        "the choices"
    )


def test_model_summary_needs_plain_and_eks(tmp_path):
    run = _run(
        tmp_path,
        [
            model("train", "plain", 0.30),
            model("train", "paper", 3.0),
            model("inference", "eks", 1.0),
        ],
    )
    assert model_summary(run) == []
    run = _run(tmp_path, [model("train", "plain", 0.30), model("train", "eks", 0.30)])
    assert model_summary(run) == [
        "* shufflenet_v2_x1_0 training step: EKS speed vs plain **1.00×** (target ≥ 0.95× (met))"
    ]


@pytest.mark.parametrize("worst,verdict", [(1.10, "(met)"), (1.11, "(missed)")])
def test_paper_scale_layers_are_judged_in_bfloat16_on_every_layer(tmp_path, worst, verdict):
    paper, bf16 = "paper", "paper,dtype=bfloat16"
    run = _run(
        tmp_path,
        [
            layer("a", "plain", 1.0, setting=paper, dtype="float32"),
            layer("a", "triton", 1.5, setting=paper, dtype="float32"),
            layer("a-bf16", "plain", 1.0, setting=bf16, dtype="bfloat16"),
            layer("a-bf16", "triton", 1.0, setting=bf16, dtype="bfloat16"),
            layer("a-bf16", "paper", 20.0, setting=bf16, dtype="bfloat16"),
            layer("b-bf16", "plain", 1.0, setting=bf16, dtype="bfloat16"),
            layer("b-bf16", "triton", worst, setting=bf16, dtype="bfloat16"),
            layer("m", "plain", 1.0),  # the main setting is judged apart
            layer("m", "triton", 9.0),
        ],
    )
    lines = paper_scale_summary(records_of(run, "layer", "time"), "triton")
    assert lines[0] == (
        "* paper scale, float32: `triton` / plain, forward+backward (1 layer shapes): median "
        "1.50×, worst **1.50×** (a)"
    )
    assert lines[1].startswith("* paper scale, bfloat16: `triton` / plain")
    assert f"worst **{worst:.2f}×** (b-bf16) — target ≤ 1.10× every layer {verdict}" in lines[1]
    assert (
        lines[3] == "* paper scale, bfloat16: paper / `triton` median 20.00×, range 20.00×–20.00×"
    )
    assert not paper_scale_summary(records_of(run, "layer", "time")[-2:], "triton")


def test_paper_scale_training_steps_have_the_gpu_targets_and_their_graphs(tmp_path):
    def step(provider, seconds, dtype):
        return model("train", provider, seconds, scale="paper", dtype=dtype)

    run = _run(
        tmp_path,
        [
            step("plain", 0.095, "float32"),
            step("eks", 0.100, "float32"),
            step("paper", 0.999, "float32"),
            step("plain", 0.05, "bfloat16"),
            step("eks", 0.06, "bfloat16"),
            step("plain_graph", 0.04, "bfloat16"),
            step("eks_graph", 0.05, "bfloat16"),
        ],
    )
    lines = model_summary(run)
    assert lines[0] == (
        "* shufflenet_v2_x1_0 at the paper's scale, float32, training step: paper / EKS "
        "**9.99×** (target ≥ 10× (missed)); EKS speed vs plain **0.95×** (target ≥ 0.90× (met))"
    )
    assert lines[1].endswith("EKS speed vs plain **0.83×** (target ≥ 0.90× (missed))")
    assert "paper" not in lines[1].split("scale")[1]  # no paper step in bfloat16
    assert lines[2:] == [
        "* shufflenet_v2_x1_0 at the paper's scale, bfloat16, `plain_graph` (one CUDA graph "
        "replayed): 40.0 ms, 1.25× the speed of `plain`",
        "* shufflenet_v2_x1_0 at the paper's scale, bfloat16, `eks_graph` (one CUDA graph "
        "replayed): 50.0 ms, 1.20× the speed of `eks`",
        "* shufflenet_v2_x1_0 at the paper's scale, bfloat16, captured EKS step speed vs "
        "captured plain **0.80×**",
    ]


def test_memory_summary_target_on_eks_and_model(tmp_path):
    run = _run(
        tmp_path,
        [
            layer("a", "plain", 1.0, peak=100),
            layer("a", "cpu", 1.0, peak=110),
            layer("a", "paper", 1.0, peak=500),
            model("train", "plain", 1.0, peak=2**20),
            model("train", "eks", 1.0, peak=2 * 2**20),
        ],
    )
    cpu, paper, model_line = memory_summary(run, "cpu")
    assert cpu.endswith("worst **1.10×** (target ≤ 1.5× (met))")
    assert paper.endswith("worst **5.00×**")
    assert model_line == (
        "* shufflenet_v2_x1_0 training step peak memory: plain 1 MiB (1.00×), "
        "eks 2 MiB (2.00×) — EKS target ≤ 1.1× plain (missed)"
    )
