"""A LoRKD student's training step and a deployed expert's inference
(:mod:`benchmarks.model_bench`).

    python -m pytest benchmarks/test_bench_model.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest

from benchmarks.common import timed
from benchmarks.model_bench import (BATCH, IMAGE_SIZE, INFERENCE_PROVIDERS, MODEL,
                                    TRAIN_PROVIDERS, inference_step, model_info, train_step)


@pytest.mark.parametrize("provider", TRAIN_PROVIDERS)
def test_model_train_step(benchmark, provider):
    step = train_step(provider)
    step()                                  # warm-up; also creates the momentum buffers
    benchmark.group = f"{MODEL} train step b{BATCH}@{IMAGE_SIZE}"
    benchmark.extra_info.update(model_info("train", provider), metric="time")
    benchmark(timed(step))


@pytest.mark.parametrize("provider", INFERENCE_PROVIDERS)
def test_model_inference(benchmark, provider):
    step = inference_step(provider)
    step()
    benchmark.group = f"{MODEL} inference b{BATCH}@{IMAGE_SIZE}"
    benchmark.extra_info.update(model_info("inference", provider), metric="time")
    benchmark(timed(step))
