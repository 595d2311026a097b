"""Limits a GPU enforces that the interpreter does not, checked on the host before a launch.

* **Grid size.** A CUDA grid may have up to 2^31 - 1 programs along its first axis but only
  65535 along the other two; a launch past them fails on the device with an unhelpful error, or
  not at all under the interpreter. The launchers put the axis that grows with the batch (or with
  tasks x groups) first and check the rest here.
* **Determinism.** The weight-gradient kernels sum partial results with atomics, whose order
  varies run to run. Under ``torch.use_deterministic_algorithms(True)`` they refuse with an error
  (a warning in ``warn_only`` mode), as torch's own nondeterministic kernels do, instead of being
  silently nondeterministic. Forward passes and input gradients have no atomics.
"""

from __future__ import annotations

import warnings
from typing import Sequence, Tuple

import torch

MAX_GRID = (2**31 - 1, 65535, 65535)


def checked_grid(grid: Sequence[int], what: str) -> Tuple[int, ...]:
    """``grid`` as a tuple, or a ValueError naming the kernel, the axis and the limit."""
    for axis, (size, limit) in enumerate(zip(grid, MAX_GRID)):
        if size > limit:
            raise ValueError(
                f"{what} needs {size} programs along grid axis {axis}, more than a "
                f"CUDA grid allows ({limit}); use fewer tasks or groups, or the "
                f"cuda backend"
            )
    return tuple(grid)


def alert_nondeterministic(what: str) -> None:
    """Refuse (or warn, in ``warn_only`` mode) when deterministic algorithms are requested."""
    if not torch.are_deterministic_algorithms_enabled():
        return
    message = (
        f"{what} of the triton backend sums with atomics and has no deterministic "
        f"implementation, but torch.use_deterministic_algorithms(True) is set; the cuda "
        f"backend's weight gradients are deterministic (lorkd_kernels.backends.use"
        f"('cuda', 'cuda'))"
    )
    if torch.is_deterministic_algorithms_warn_only_enabled():
        warnings.warn(message, stacklevel=3)
    else:
        raise RuntimeError(message)
