"""The acceptance run's time estimate: counted work x costs per item."""

from __future__ import annotations

import os

import pytest

from benchmarks import gpu_acceptance, gpu_estimate
from benchmarks.gpu_estimate import Costs, Counts, estimate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COUNTS = Counts(
    cuda_sources=1,
    cxx_sources=20,
    gpu_tests=100,
    triton_tests=50,
    triton_tests_kernels=40,
    gpu_tests_kernels=10,
    compiled_models=2,
    inductor_models=1,
    timed_benchmarks=30,
    model_benchmarks=6,
    paper_model_benchmarks=2,
    warmup_benchmarks=20,
    benchmark_kernels=5,
)
COSTS = Costs(
    architectures=2,
    nvcc_per_architecture=50,
    cxx_per_source=20,
    jobs=8,
    workers=4,
    warmup_workers=2,
    link=5,
    process_start=10,
    test=0.2,
    triton_compile=2,
    aot_eager_compile=6,
    inductor_compile=30,
    benchmark_max_time=0.5,
    benchmark_overhead=0.5,
    model_case=3,
    paper_model_case=9,
    warmup_case=0.5,
    report=7,
)


def test_estimate_per_step_from_counts():
    seconds = estimate(COUNTS, COSTS)
    assert seconds == pytest.approx(
        {
            "environment": 1,
            "dependencies": 1,
            "build": max(1 * 2 * 50, 3 * 20) + 5 + 10,  # nvcc beside 3 C++ rounds
            "kernels": 10,
            "warm-up": 10 + (5 * 2 + 20 * 0.5) / 2,  # the kernels compiled in parallel
            "benchmarks": 10 + 30 * (0.5 + 0.5) + 6 * 3 + 2 * 9,
            "report": 7,
            "triton-tests": 10 + (50 * 0.2 + 40 * 2) / 4,
            "gpu-tests": 10 + (100 * 0.2 + 10 * 2 + 2 * 6) / 4 + 30,
        }
    )
    assert list(seconds) == [step.name for step in gpu_acceptance.steps("out", 8)]


def test_more_workers_shorten_the_tests_only():
    one = estimate(COUNTS, Costs(workers=1))
    many = estimate(COUNTS, Costs(workers=16))
    assert many["triton-tests"] < one["triton-tests"] and many["gpu-tests"] < one["gpu-tests"]
    assert many["benchmarks"] == one["benchmarks"] and many["build"] == one["build"]


def test_the_warm_up_moves_the_compiles_out_of_the_timed_step():
    more = estimate(COUNTS.__class__(**{**vars(COUNTS), "benchmark_kernels": 50}), COSTS)
    base = estimate(COUNTS, COSTS)
    assert more["benchmarks"] == base["benchmarks"]
    assert more["warm-up"] - base["warm-up"] == pytest.approx(45 * 2 / 2)


@pytest.mark.slow  # collects the GPU and triton test files in pytest processes of their own
def test_counts_come_from_collection_and_the_paper_scope():
    from benchmarks.scopes import REPRESENTATIVE
    from tests.gpu import test_cuda_backends as gpu

    counts = gpu_estimate.count(ROOT, ["plain", "triton", "torch"])
    forms, capturable = len(gpu.FORMS), len(gpu.CAPTURABLE)
    per_form = len(gpu.CONV_PARAMS) + len(gpu.LINEAR_PARAMS) + 2 * len(gpu.BAD_IDS) + 1
    # per capturable form 4 graph tests and a sync-free step, which the torch backend runs too
    assert counts.gpu_tests == forms * per_form + capturable * 5 + 1 + 1 + 1
    assert counts.triton_tests > 100
    # every representative layer in both dtypes on the three providers, and three inferences
    layer_cases = 2 * (len(REPRESENTATIVE["conv"]) + len(REPRESENTATIVE["linear"]))
    assert counts.timed_benchmarks == layer_cases * 3 + 3
    # per student: plain and eks in both dtypes, both CUDA graphs in bfloat16; the paper in float32
    assert (counts.model_benchmarks, counts.paper_model_benchmarks) == (2 * 6, 2)
    assert counts.cuda_sources >= 1 and counts.cxx_sources > counts.cuda_sources
