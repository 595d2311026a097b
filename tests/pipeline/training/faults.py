"""Fault injection for the resumption tests: ``LORKD_FAULT_AT=<point>[:<n>]`` kills the process
with SIGKILL the n-th time (default: the first) it reaches ``<point>``.

A SIGKILL cannot be caught, so it stands for a power cut or the kernel's OOM killer; reaching
the kill from inside the process puts it at an exact place, which a timed signal from outside
cannot. Unset (always, outside tests), a point costs one environment lookup and does nothing.
"""

from __future__ import annotations

import os
import signal
from typing import Dict, Tuple

VARIABLE = "LORKD_FAULT_AT"

POINTS = {
    "step": "after an optimiser step (mid-epoch, since the last checkpoint)",
    "checkpoint-write": "half of a checkpoint's temporary file written, before its rename",
    "stage-end": "a stage trained and checkpointed, before the run moves to the next stage",
}

_reached: Dict[str, int] = {}


def _target() -> Tuple[str, int]:
    """The armed point and count, or ("", 0); a malformed value is an error naming it."""
    value = os.environ.get(VARIABLE, "").strip()
    if not value:
        return "", 0
    point, _, count = value.partition(":")
    if point not in POINTS or not (count == "" or (count.isdigit() and int(count) > 0)):
        raise ValueError(f"{VARIABLE}={value!r}: expected <point>[:<n>] with n >= 1 and a point "
                         f"among {', '.join(POINTS)}")
    return point, int(count or 1)


def reached(point: str) -> None:
    """Count a visit of ``point``; die here if this is the armed visit."""
    target, count = _target()
    if target != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == count:
        os.kill(os.getpid(), signal.SIGKILL)


def armed(point: str) -> bool:
    """Whether ``LORKD_FAULT_AT`` names ``point`` (callers take a slower, observable path)."""
    return _target()[0] == point
