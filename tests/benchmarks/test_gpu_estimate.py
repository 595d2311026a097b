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
    benchmark_kernels=5,
    memory_benchmarks=10,
)
COSTS = Costs(
    architectures=2,
    nvcc_per_architecture=50,
    cxx_per_source=20,
    jobs=8,
    workers=4,
    link=5,
    process_start=10,
    test=0.2,
    triton_compile=2,
    aot_eager_compile=6,
    inductor_compile=30,
    benchmark_max_time=0.5,
    benchmark_overhead=0.5,
    memory_case=0.5,
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
            "benchmarks": 10 + 5 * 2 + 30 * (0.5 + 0.5) + 10 * 0.5,
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


@pytest.mark.slow  # collects the GPU and triton test files in pytest processes of their own
def test_counts_come_from_collection_and_the_quick_scope():
    from benchmarks.scopes import REPRESENTATIVE
    from tests.gpu import test_cuda_backends as gpu

    counts = gpu_estimate.count(ROOT, ["plain", "triton", "torch"])
    forms, capturable = len(gpu.FORMS), len(gpu.CAPTURABLE)
    per_form = len(gpu.CONV_PARAMS) + len(gpu.LINEAR_PARAMS) + 2 * len(gpu.BAD_IDS) + 1
    assert counts.gpu_tests == forms * per_form + capturable * 5 + 1 + 1  # 4 graph tests, 1 sync
    assert counts.triton_tests > 100
    layer_cases = len(REPRESENTATIVE["conv"]) + len(REPRESENTATIVE["linear"])
    assert counts.timed_benchmarks >= layer_cases * 3
    assert counts.cuda_sources >= 1 and counts.cxx_sources > counts.cuda_sources
