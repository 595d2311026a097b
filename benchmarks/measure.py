"""What a benchmark round runs (:class:`Step`) and the two ways a suite measures it: time over
many rounds, or peak memory in one."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from .common import timed
from .peak_memory import peak_bytes


class Step:
    """What one round measures: ``clear()`` (drop last round's gradients) then ``compute()``."""

    def __init__(self, compute: Callable[[], None], clear: Callable[[], None] = lambda: None):
        self.compute, self.clear = compute, clear

    def __call__(self) -> None:
        self.clear()
        self.compute()


def time_step(benchmark, step: Step, device: torch.device, info: Dict,
              rounds: Optional[int] = None) -> None:
    """Time ``step`` over pytest-benchmark's rounds, or exactly ``rounds`` (for steps so slow
    that the usual minimum would take minutes); ``info`` goes into ``extra_info``."""
    step()                          # warm-up: oneDNN primitives, lazy inits, optimizer state
    benchmark.extra_info.update(info, metric="time")
    if rounds is None:
        benchmark(timed(step, device))
    else:
        benchmark.pedantic(timed(step, device), rounds=rounds, iterations=1)


def record_peak_memory(benchmark, step: Step, device: torch.device, info: Dict) -> None:
    """Store the peak memory of one ``step`` in ``extra_info["peak_bytes"]``; the benchmark's
    single round only puts it into the JSON (its time is not a measurement)."""
    step()
    step.clear()                            # freeing last round's gradients is not the step's
    benchmark.extra_info.update(info, metric="peak_bytes",
                                peak_bytes=peak_bytes(step.compute, device))
    benchmark.pedantic(timed(step, device), rounds=1, iterations=1)
