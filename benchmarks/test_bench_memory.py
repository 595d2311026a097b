"""Peak memory of forward+backward per provider (:mod:`benchmarks.peak_memory`).

Layer level: every main-setting forward+backward problem of the layer suites; model level: each
student's training step (plain, EKS, paper). The peak is stored in ``extra_info["peak_bytes"]`` of
a one-round benchmark, so it lands in the same JSON as the timings (the round's time is not a
measurement).
"""

from __future__ import annotations

import pytest

from benchmarks.common import SETTINGS
from benchmarks.layer_bench import run_layer_memory
from benchmarks.model_bench import MEMORY_PROVIDERS, TRAIN_MODELS, run_model_memory
from benchmarks.providers import available_providers
from benchmarks.scopes import layer_cases

CASES = [
    case
    for kind in ("conv", "linear")
    for case in layer_cases(kind)
    if case.setting == "main" and case.pass_ == "fwd+bwd"
]


@pytest.mark.parametrize("provider", available_providers(SETTINGS.device))
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_layer_peak_memory(benchmark, case, provider):
    run_layer_memory(benchmark, case, provider)


@pytest.mark.parametrize("provider", MEMORY_PROVIDERS)
@pytest.mark.parametrize("arch", TRAIN_MODELS)
def test_model_train_step_peak_memory(benchmark, arch, provider):
    run_model_memory(benchmark, provider, arch)
