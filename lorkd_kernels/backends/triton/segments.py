"""Task segments and tile tables built on the device, with static sizes and no host sync.

Rows are (sample, position) pairs: output pixels for the forward and weight-gradient kernels,
input pixels for the input-gradient kernel, tokens for linear layers. Samples are put in task
order by a stable argsort (``order``); in that order each task owns one contiguous run of rows.
A tile of ``block_m`` rows never crosses a task boundary, so every tile reads exactly one
``A_t``/``B_t``. The number of tiles is bounded by ``cdiv(rows, block_m) + num_tasks`` whatever
the task mix, which sizes the grid from shapes alone; entries past the real tiles hold task -1 and
their programs exit at once.
"""

from __future__ import annotations

from typing import Tuple

import torch


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def task_rows(task_ids: torch.Tensor, num_tasks: int,
              rows_per_sample: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``order`` (N,) sorting samples by task, and ``bounds`` (T, 2): each task's row range
    ``[begin, end)`` in that order (empty ranges for absent tasks)."""
    counts = torch.zeros(num_tasks, dtype=torch.int64, device=task_ids.device)
    counts.scatter_add_(0, task_ids, torch.ones_like(task_ids))
    order = torch.argsort(task_ids, stable=True)
    row_end = torch.cumsum(counts * rows_per_sample, 0)
    bounds = torch.stack([row_end - counts * rows_per_sample, row_end], dim=1).contiguous()
    return order, bounds


def max_tiles(batch: int, rows_per_sample: int, num_tasks: int, block_m: int) -> int:
    """Static grid size: enough tiles for any assignment of the batch to tasks."""
    return _cdiv(batch * rows_per_sample, block_m) + num_tasks


def tile_table(bounds: torch.Tensor, num_tiles: int, block_m: int) -> torch.Tensor:
    """(num_tiles, 3) int64 rows ``(task, row_begin, row_end)``; task -1 marks an empty tile."""
    rows = bounds[:, 1] - bounds[:, 0]
    tiles_per_task = (rows + block_m - 1) // block_m
    tile_end = torch.cumsum(tiles_per_task, 0)
    index = torch.arange(num_tiles, device=bounds.device)
    task = torch.searchsorted(tile_end, index, right=True)
    valid = task < bounds.shape[0]
    task = task.clamp(max=bounds.shape[0] - 1)
    first_tile = tile_end[task] - tiles_per_task[task]
    begin = bounds[task, 0] + (index - first_tile) * block_m
    end = torch.minimum(begin + block_m, bounds[task, 1])
    return torch.stack([torch.where(valid, task, -1), begin, end], dim=1).contiguous()
