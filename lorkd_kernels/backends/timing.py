"""The Python timing loop of the measured choices (the triton backend's forms): which candidate
runs a call fastest.

Pure Python, so a test can pass a fake ``clock`` and decide the winner; the ``cpu`` backend's
C++ loop (``csrc/cpu/strategy.h``, ``time_candidates``) follows the same protocol: one warm-up
run, then :data:`TIMED_RUNS` timed runs of each candidate, the best of which is its time.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence, Tuple, TypeVar, cast

Candidate = TypeVar("Candidate")
Result = TypeVar("Result")

TIMED_RUNS = 2


def fastest(
    candidates: Sequence[Candidate],
    run: Callable[[Candidate], Result],
    clock: Callable[[], float] = time.perf_counter,
    sync: Callable[[], None] = lambda: None,
) -> Tuple[Candidate, Result]:
    """The candidate whose best timed ``run`` took least ``clock`` time, and that run's result
    (so the measuring call returns real output). ``sync`` runs before each clock reading: on a
    GPU it waits for the launched kernels, which otherwise finish after the clock stops.
    Ties go to the earlier candidate."""
    if not candidates:
        raise ValueError("fastest() needs at least one candidate")
    best, best_result, best_seconds = candidates[0], None, math.inf
    for candidate in candidates:
        result = run(candidate)  # warm-up: compilation, autotuning, caches
        seconds = math.inf
        for _ in range(TIMED_RUNS):
            sync()
            start = clock()
            result = run(candidate)
            sync()
            seconds = min(seconds, clock() - start)
        if seconds < best_seconds:
            best, best_result, best_seconds = candidate, result, seconds
        del result
    # None only if no run took a time below infinity (a clock giving inf or NaN)
    return best, cast(Result, best_result)
