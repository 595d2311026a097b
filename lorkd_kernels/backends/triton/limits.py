"""Limits a GPU enforces that the interpreter does not, checked on the host before a launch.

A CUDA grid may have up to 2^31 - 1 programs along its first axis but only 65535 along the other
two; a launch past them fails on the device with an unhelpful error, or not at all under the
interpreter. The launchers put the axis that grows with the batch first and check the rest here.
"""

from __future__ import annotations

from typing import Sequence, Tuple

MAX_GRID = (2 ** 31 - 1, 65535, 65535)


def checked_grid(grid: Sequence[int], what: str) -> Tuple[int, ...]:
    """``grid`` as a tuple, or a ValueError naming the kernel, the axis and the limit."""
    for axis, (size, limit) in enumerate(zip(grid, MAX_GRID)):
        if size > limit:
            raise ValueError(f"{what} needs {size} programs along grid axis {axis}, more than a "
                             f"CUDA grid allows ({limit}); use fewer tasks or groups, or the "
                             f"cuda backend")
    return tuple(grid)
