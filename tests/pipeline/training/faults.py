"""Fault injection for the resumption tests: ``python -m tests.pipeline.training.faults
<point>[:<n>] <module> [args...]`` runs ``python -m <module> args...`` in this process, killed
with SIGKILL the n-th time (default: the first) it reaches ``<point>``.

A SIGKILL cannot be caught, so it stands for a power cut or the kernel's OOM killer; reaching
the kill from inside the process puts it at an exact place, which a timed signal from outside
cannot. The points are wrapped around named functions of the training code from here, so the
library itself carries no test hook.
"""

from __future__ import annotations

import io
import os
import runpy
import signal
import sys
import types
from typing import Callable, Tuple

POINTS = {
    "step": "after an optimiser step (mid-epoch, since the last checkpoint)",
    "checkpoint-write": "half of a checkpoint's temporary file written, before its rename",
    "stage-end": "a stage trained and checkpointed, before the run moves to the next stage",
}


def parse(value: str) -> Tuple[str, int]:
    """``<point>[:<n>]`` as (point, n); a malformed value is an error naming it."""
    point, _, count = value.partition(":")
    if point not in POINTS or not (count == "" or (count.isdigit() and int(count) > 0)):
        raise ValueError(
            f"fault {value!r}: expected <point>[:<n>] with n >= 1 and a point "
            f"among {', '.join(POINTS)}"
        )
    return point, int(count or 1)


class Counter:
    """Visits of the armed point; ``kill`` is called on the n-th."""

    def __init__(self, count: int, kill: Callable[[], None]):
        self.count, self.visits, self.kill = count, 0, kill

    def visit(self) -> None:
        self.visits += 1
        if self.visits == self.count:
            self.kill()


def _sigkill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, counter: Counter) -> None:
    """Wrap the training code's function at ``point`` so that each call visits ``counter``."""
    from lorkd_kernels.pipeline.training import checkpoint, loop

    if point == "step":
        train_step = loop.Trainer._train_step

        def step_then_visit(self, loaders):
            train_step(self, loaders)
            counter.visit()

        loop.Trainer._train_step = step_then_visit
    elif point == "stage-end":
        run = loop.Trainer.run

        def run_then_visit(self):
            model = run(self)
            counter.visit()
            return model

        loop.Trainer.run = run_then_visit
    else:  # checkpoint-write: checkpoint.save's torch.save writes half, visits, writes the rest
        torch = checkpoint.torch

        def save_in_halves(state, handle):
            buffer = io.BytesIO()
            torch.save(state, buffer)
            data = buffer.getbuffer()
            handle.write(data[: len(data) // 2])
            handle.flush()
            os.fsync(handle.fileno())
            counter.visit()
            handle.write(data[len(data) // 2 :])

        checkpoint.torch = types.SimpleNamespace(**{**vars(torch), "save": save_in_halves})


def main(argv=None) -> None:
    fault, module, *args = sys.argv[1:] if argv is None else argv
    point, count = parse(fault)
    arm(point, Counter(count, _sigkill))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
