"""How the tasks of a mixed batch are distributed: the four mixes of the layer suites.

* ``uniform``: every sample's task drawn uniformly from the ``T`` tasks (all present, ~N/T each);
* ``skewed``: tasks drawn with Zipf probabilities ``p_t ∝ 1/(t+1)`` (task 0 about a third of the
  batch, the last tasks a few samples or none);
* ``single``: the whole batch is task 0;
* ``per_sample``: every sample has its own task, so ``T = N`` (the multi-expert serving case).

Ids come unsorted (except ``single``), as a standalone layer would receive them.
"""

from __future__ import annotations

import torch

MIXES = ("uniform", "skewed", "single", "per_sample")


def num_tasks_for(mix: str, batch: int, num_tasks: int) -> int:
    """The task count a mix runs with: ``per_sample`` needs one task per sample."""
    _check(mix)
    return batch if mix == "per_sample" else num_tasks


def task_ids(mix: str, batch: int, num_tasks: int, seed: int = 0) -> torch.Tensor:
    """int64 ``(batch,)`` task ids on the CPU (move them with the inputs)."""
    _check(mix)
    gen = torch.Generator().manual_seed(seed)
    if mix == "uniform":
        return torch.randint(0, num_tasks, (batch,), generator=gen)
    if mix == "skewed":
        weights = 1.0 / torch.arange(1, num_tasks + 1, dtype=torch.float64)
        return torch.multinomial(weights, batch, replacement=True, generator=gen)
    if mix == "single":
        return torch.zeros(batch, dtype=torch.int64)
    if num_tasks != batch:
        raise ValueError(
            f"the per_sample mix needs num_tasks == batch, got {num_tasks} tasks "
            f"for {batch} samples"
        )
    return torch.randperm(batch, generator=gen)


def _check(mix: str) -> None:
    if mix not in MIXES:
        raise ValueError(f"unknown task mix {mix!r}; expected one of {MIXES}")
