"""The fault points of the resumption tests (tests/pipeline/training/faults.py): each wraps the
training code's function so that its n-th call kills, and a malformed fault is refused."""

from __future__ import annotations

import pytest

from lorkd_kernels.pipeline.training import checkpoint, loop
from tests.pipeline.training import faults


def test_the_counter_kills_on_its_nth_visit_only():
    kills = []
    counter = faults.Counter(3, lambda: kills.append("kill"))
    counter.visit()
    counter.visit()
    assert kills == []
    counter.visit()
    counter.visit()
    assert kills == ["kill"]


@pytest.mark.parametrize(
    "value, expected", [("step", ("step", 1)), ("checkpoint-write:4", ("checkpoint-write", 4))]
)
def test_a_fault_names_a_point_and_a_count(value, expected):
    assert faults.parse(value) == expected


@pytest.mark.parametrize("value", ["steps:1", "step:0", "step:x", "step:-1", ":2"])
def test_a_malformed_fault_is_refused_by_name(value):
    with pytest.raises(ValueError, match=f"fault {value!r}.*step, checkpoint-write"):
        faults.parse(value)


def test_every_point_wraps_a_function_the_training_code_still_has(monkeypatch):
    """A renamed seam fails here instead of leaving a fault that never fires."""
    monkeypatch.setattr(loop.Trainer, "_train_step", loop.Trainer._train_step)
    monkeypatch.setattr(loop.Trainer, "run", loop.Trainer.run)
    monkeypatch.setattr(checkpoint, "torch", checkpoint.torch)
    original = (loop.Trainer._train_step, loop.Trainer.run, checkpoint.torch.save)
    for point in faults.POINTS:
        faults.arm(point, faults.Counter(1, lambda: None))
    assert loop.Trainer._train_step is not original[0]
    assert loop.Trainer.run is not original[1]
    assert checkpoint.torch.save is not original[2]


def test_a_checkpoint_write_visits_with_half_the_file_on_disk(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint, "torch", checkpoint.torch)
    at_visit = []
    faults.arm(
        "checkpoint-write",
        faults.Counter(
            1, lambda: at_visit.extend(p.stat().st_size for p in tmp_path.glob(".state.pt.*.tmp"))
        ),
    )
    checkpoint.save({"weights": list(range(1000))}, tmp_path / "state.pt")
    full = (tmp_path / "state.pt").stat().st_size
    assert at_visit == [full // 2]
