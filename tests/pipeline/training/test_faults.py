"""The fault points: inert unless ``LORKD_FAULT_AT`` is set, then a kill on the n-th visit."""

from __future__ import annotations

import signal

import pytest

from lorkd_kernels.pipeline.training import faults


@pytest.fixture
def kills(monkeypatch):
    """The signals ``faults`` sends (recorded instead of sent), with fresh visit counts."""
    sent = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr(faults, "_reached", {})
    return sent


def test_unset_every_point_is_inert(kills, monkeypatch):
    monkeypatch.delenv(faults.VARIABLE, raising=False)
    for point in faults.POINTS:
        faults.reached(point)
        assert not faults.armed(point)
    assert kills == []


def test_the_armed_point_kills_on_its_nth_visit_only(kills, monkeypatch):
    monkeypatch.setenv(faults.VARIABLE, "step:3")
    assert faults.armed("step") and not faults.armed("stage-end")
    faults.reached("stage-end")
    faults.reached("step")
    faults.reached("step")
    assert kills == []
    faults.reached("step")
    assert kills == [signal.SIGKILL]


@pytest.mark.parametrize("value", ["steps:1", "step:0", "step:x", "step:-1", ":2"])
def test_a_malformed_value_names_the_variable(kills, monkeypatch, value):
    monkeypatch.setenv(faults.VARIABLE, value)
    with pytest.raises(ValueError, match=f"LORKD_FAULT_AT={value!r}.*step, checkpoint-write"):
        faults.reached("step")
