"""Linear layers of the students: plain linear vs every lorkd backend vs the paper vs a per-task
loop.

    python -m pytest benchmarks/test_bench_linear_layer.py --benchmark-group-by=group

Which shapes and settings run depends on ``--bench-scope`` (:mod:`benchmarks.scopes`); the
shapes (each model's classifier over all MedMNIST labels) come from running ShuffleNetV2 x1.0
and ResNet-18 (:mod:`benchmarks.shapes`).
"""

from __future__ import annotations

import pytest

from benchmarks.common import SETTINGS
from benchmarks.layer_bench import run_layer_benchmark
from benchmarks.providers import available_providers
from benchmarks.scopes import layer_cases


@pytest.mark.parametrize("provider", available_providers(SETTINGS.device))
@pytest.mark.parametrize("case", layer_cases("linear"), ids=lambda case: case.id)
def test_linear_layer(benchmark, case, provider):
    run_layer_benchmark(benchmark, case, provider)
