"""A LoRKD student's training step and a deployed expert's inference
(:mod:`benchmarks.model_bench`).

    python -m pytest benchmarks/test_bench_model.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest

from benchmarks.model_bench import (
    INFERENCE_PROVIDERS,
    TRAIN_MODELS,
    TRAIN_PROVIDERS,
    run_model_benchmark,
)


@pytest.mark.parametrize("provider", TRAIN_PROVIDERS)
@pytest.mark.parametrize("arch", TRAIN_MODELS)
def test_model_train_step(benchmark, arch, provider):
    run_model_benchmark(benchmark, "train", provider, arch)


@pytest.mark.parametrize("provider", INFERENCE_PROVIDERS)
def test_model_inference(benchmark, provider):
    run_model_benchmark(benchmark, "inference", provider)
