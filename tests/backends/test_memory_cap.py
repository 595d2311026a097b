"""The cpu backend's peak-memory cap on its conv forms (csrc/cpu/strategy.h, "memory"): the cost
model and the measured choice keep to it, forced strategies ignore it, and the setting is
validated. Peaks are measured with the profiler, as the benchmarks' memory suite does
(benchmarks/peak_memory.py); every form's results are checked in test_kernels.py."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmarks.peak_memory import peak_bytes
from lorkd_kernels import EKSConv2d, backends, task_ids_context
from lorkd_kernels.backends import measured

pytestmark = pytest.mark.skipif(
    not backends.compiled_loaded(), reason="the memory cap belongs to the compiled cpu backend"
)

CPU = torch.device("cpu")
# ShuffleNetV2's last depthwise conv at 64x64 input (2x2 maps), batch 64, T = 10, r = 4: its
# grouped form per sample peaks at about 8x the plain layer
CHANNELS, SIZE, BATCH, TASKS = 232, 2, 64, 10
PER_SAMPLE = measured.paths().index("merged per sample")


@pytest.fixture(autouse=True)
def fresh_table():
    measured.clear_choices()
    yield
    measured.clear_choices()


def _problem():
    torch.manual_seed(0)
    layer = EKSConv2d(CHANNELS, CHANNELS, 3, padding=1, groups=CHANNELS, num_tasks=TASKS, rank=4)
    nn.init.normal_(layer.lora_B, std=0.02)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, requires_grad=True)
    return layer, x, torch.arange(BATCH) % TASKS


def _peak(module, x, ids=None) -> int:
    def step():
        x.grad = None
        for p in module.parameters():
            p.grad = None
        (module(x) if ids is None else module(x, ids)).sum().backward()

    step()  # oneDNN builds its primitives on a first call
    return peak_bytes(step, CPU)


def _plain_peak() -> int:
    layer, x, _ = _problem()
    plain = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1, groups=CHANNELS)
    return _peak(plain, x)


def _eks_peak() -> int:
    layer, x, ids = _problem()
    with backends.use("cpu", "cpu"), task_ids_context(ids) as planned:
        return _peak(layer, x, planned)


def test_the_default_cap_is_twice_the_plain_layer():
    previous = backends.set_memory_cap(3)
    try:
        assert previous == 2.0
    finally:
        backends.set_memory_cap(previous)


def test_auto_keeps_the_outlier_within_the_cap_and_the_cap_decides():
    plain = _plain_peak()
    assert _eks_peak() <= 2 * plain
    with backends.memory_cap(0):  # no cap: the cost model's fastest form
        assert _eks_peak() > 2 * plain


def test_forced_strategies_ignore_the_cap():
    plain = _plain_peak()
    with backends.conv_strategy("merged"):  # the per-sample form, which does not fit
        assert _eks_peak() > 2 * plain


def test_measured_choices_skip_forms_over_the_cap():
    with backends.measuring():
        _eks_peak()
    paths = measured.choices()[:, -1].tolist()
    assert len(paths) == 2  # forward and backward
    assert PER_SAMPLE not in paths


@pytest.mark.parametrize("cap", [0.5, -1, math.nan, True, "2", None])
def test_a_bad_cap_is_refused_and_changes_nothing(cap):
    with pytest.raises(ValueError, match="memory cap"):
        backends.set_memory_cap(cap)
    previous = backends.set_memory_cap(2)
    assert previous == 2.0
