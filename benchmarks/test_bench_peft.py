"""Several peft LoRA adapters on one mixed batch: peft's ``adapter_names=`` against the same
adapters in one EKS model (:mod:`benchmarks.peft_bench`).

    python -m pytest benchmarks/test_bench_peft.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest

from benchmarks.peft_bench import MODELS, PROVIDERS, run_peft_benchmark


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("model_name", MODELS)
def test_peft_mixed_batch_inference(benchmark, model_name, provider):
    run_peft_benchmark(benchmark, model_name, provider)
