"""The learning-rate schedules: the demo's is the one the README's default run was made with,
the released code's is constant within an epoch."""

from __future__ import annotations

import math

import pytest

from lorkd_kernels.pipeline.training.schedule import lr_factor


def _schedule_of_the_default_run(total: int):
    """The schedule docs/default_run was trained with: a linear warm-up over total // 10 steps
    (at least one), then a cosine decay per step."""
    warmup = max(1, total // 10)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(step - warmup, total - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@pytest.mark.parametrize("epochs", [1, 2, 6, 8, 100])
def test_the_demo_schedule_is_unchanged_bit_for_bit(epochs):
    for steps_per_epoch in range(1, 121):
        total = steps_per_epoch * epochs
        new = lr_factor("cosine-step", 0.1, steps_per_epoch, epochs)
        old = _schedule_of_the_default_run(total)
        assert [new(s) for s in range(total + 1)] == [old(s) for s in range(total + 1)], (
            steps_per_epoch,
            epochs,
        )


def test_cosine_per_epoch_without_warmup_is_torchs_cosine_annealing():
    torch = pytest.importorskip("torch")
    epochs, steps = 5, 3
    factor = lr_factor("cosine-epoch", 0.0, steps, epochs)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        expected = optimizer.param_groups[0]["lr"]
        for step in range(epoch * steps, (epoch + 1) * steps):
            assert 0.05 * factor(step) == pytest.approx(expected, abs=1e-12), (epoch, step)
        optimizer.step()
        annealing.step()
    assert factor(0) == 1.0 and factor(epochs * steps) == 0.0


def test_no_warmup_starts_at_the_peak_and_a_warmup_ramps_up():
    assert lr_factor("cosine-step", 0.0, 10, 2)(0) == 1.0
    ramp = lr_factor("cosine-epoch", 0.25, 10, 2)
    assert [ramp(s) for s in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_an_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="'linear'"):
        lr_factor("linear", 0.0, 10, 2)
