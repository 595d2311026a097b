"""What a benchmark round runs (:class:`Step`) and the two ways a suite measures it: time over
many rounds, or peak memory in one."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from .common import timed
from .peak_memory import peak_bytes


class Step:
    """What one round measures: ``clear()`` (drop last round's gradients) then ``compute()``.
    ``forward``: the step's forward pass alone, where it has a backward (its device time is
    recorded beside the whole step's)."""

    def __init__(
        self,
        compute: Callable[[], None],
        clear: Callable[[], None] = lambda: None,
        forward: Optional["Step"] = None,
    ):
        self.compute, self.clear, self.forward = compute, clear, forward

    def __call__(self) -> None:
        self.clear()
        self.compute()


#: rounds of the CUDA-event device time recorded beside pytest-benchmark's wall time
DEVICE_ROUNDS = 10


def device_seconds(
    step: Step, device: torch.device, rounds: int = DEVICE_ROUNDS
) -> Optional[float]:
    """Median seconds between CUDA events recorded on the stream around ``step.compute`` (the
    GPU's time for the step, idle gaps while the host catches up included), or None off a
    CUDA device."""
    if device.type != "cuda":
        return None
    times = []
    for _ in range(rounds):
        step.clear()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        step.compute()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def time_step(
    benchmark, step: Step, device: torch.device, info: Dict, rounds: Optional[int] = None
) -> None:
    """Time ``step`` over pytest-benchmark's rounds, or exactly ``rounds`` (for steps so slow
    that the usual minimum would take minutes); ``info`` goes into ``extra_info``, with the
    CUDA-event device time (``device_seconds``, and ``forward_device_seconds`` of the step's
    forward alone) on a GPU. With pytest-benchmark disabled (``--benchmark-disable``, or under
    pytest-xdist) the step runs once: what a warm-up run (JIT compiles) needs."""
    step()  # warm-up: oneDNN primitives, lazy inits, optimizer state
    if getattr(benchmark, "disabled", False):
        return
    benchmark.extra_info.update(info, metric="time")
    device_rounds = DEVICE_ROUNDS if rounds is None else rounds
    seconds = device_seconds(step, device, device_rounds)
    if seconds is not None:
        benchmark.extra_info["device_seconds"] = seconds
        if step.forward is not None:
            forward = device_seconds(step.forward, device, device_rounds)
            benchmark.extra_info["forward_device_seconds"] = forward
    if rounds is None:
        benchmark(timed(step, device))
    else:
        benchmark.pedantic(timed(step, device), rounds=rounds, iterations=1)


def record_peak_memory(benchmark, step: Step, device: torch.device, info: Dict) -> None:
    """Store the peak memory of one ``step`` in ``extra_info["peak_bytes"]``; the benchmark's
    single round only puts it into the JSON (its time is not a measurement)."""
    step()
    step.clear()  # freeing last round's gradients is not the step's
    benchmark.extra_info.update(
        info, metric="peak_bytes", peak_bytes=peak_bytes(step.compute, device)
    )
    benchmark.pedantic(timed(step, device), rounds=1, iterations=1)
