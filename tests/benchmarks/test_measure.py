"""The CUDA-event device time recorded beside pytest-benchmark's wall time
(``benchmarks/measure.py``), checked without a GPU: None off CUDA, the median of the events'
elapsed times on it (events replaced by a stand-in that counts)."""

from __future__ import annotations

import itertools

import torch

from benchmarks import measure


def test_no_device_time_off_cuda():
    assert measure.device_seconds(measure.Step(lambda: None), torch.device("cpu")) is None


def test_the_median_of_event_times_between_clears(monkeypatch):
    elapsed_ms = itertools.cycle([5.0, 1.0, 3.0])
    log = []

    class Event:
        def __init__(self, enable_timing):
            assert enable_timing

        def record(self):
            log.append("record")

        def synchronize(self):
            log.append("synchronize")

        def elapsed_time(self, end):
            return next(elapsed_ms)

    monkeypatch.setattr(torch.cuda, "Event", Event)
    step = measure.Step(lambda: log.append("compute"), lambda: log.append("clear"))
    assert measure.device_seconds(step, torch.device("cuda"), rounds=3) == 3e-3
    assert log[:5] == ["clear", "record", "compute", "record", "synchronize"]
