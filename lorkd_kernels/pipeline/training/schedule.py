"""The learning-rate schedules of a training stage, as a factor of the peak rate per optimiser
step (what ``torch.optim.lr_scheduler.LambdaLR`` takes).

Plain arithmetic, no torch: the command line reads ``LR_SCHEDULES`` and must load without it.
"""

from __future__ import annotations

import math
from typing import Callable

# cosine-step: cosine decay evaluated at every optimiser step (the demo's schedule);
# cosine-epoch: the rate is constant within an epoch and follows the cosine from one epoch to
# the next, as torch's CosineAnnealingLR(T_max=epochs) stepped once per epoch does (the
# released code's schedule).
LR_SCHEDULES = ("cosine-step", "cosine-epoch")


def warmup_steps(total: int, fraction: float) -> int:
    """Steps of linear warm-up: ``fraction`` of the stage's steps, at least one when any."""
    if fraction == 0:
        return 0
    return max(1, int(total * fraction))


def lr_factor(
    schedule: str, warmup_fraction: float, steps_per_epoch: int, epochs: int
) -> Callable[[int], float]:
    """Learning-rate factor per step: a linear warm-up over ``warmup_fraction`` of the steps
    (it keeps freshly initialised BatchNorm networks on small images from diverging in their
    first steps at the full rate), then a cosine decay to zero, per step or per epoch."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; known: {LR_SCHEDULES}")
    total = steps_per_epoch * epochs
    warmup = warmup_steps(total, warmup_fraction)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "cosine-epoch":
            progress = min(step // steps_per_epoch, epochs) / epochs
        else:
            progress = min(step - warmup, total - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor
