"""A LoRKD student's training step and a deployed expert's inference
(:mod:`benchmarks.model_bench`).

    python -m pytest benchmarks/test_bench_model.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest

from benchmarks.model_bench import INFERENCE_PROVIDERS, run_model_benchmark, train_cases


@pytest.mark.parametrize("arch, dtype, provider", train_cases())
def test_model_train_step(benchmark, arch, dtype, provider):
    run_model_benchmark(benchmark, "train", provider, arch, dtype)


@pytest.mark.parametrize("provider", INFERENCE_PROVIDERS)
def test_model_inference(benchmark, provider):
    run_model_benchmark(benchmark, "inference", provider)
