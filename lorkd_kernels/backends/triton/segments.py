"""Task segments and tile tables built on the device, with static sizes and no host sync.

Rows are (sample, position) pairs: output pixels for the forward and weight-gradient kernels,
input pixels for the input-gradient kernel, tokens for linear layers. Samples are put in task
order by a stable argsort (``order``); in that order each task owns one contiguous run of rows.
A tile of ``block_m`` rows never crosses a task boundary, so every tile reads exactly one
``A_t``/``B_t``. The number of tiles is bounded by ``cdiv(rows, block_m) + num_tasks`` whatever
the task mix, which sizes the grid from shapes alone; entries past the real tiles hold task -1 and
their programs exit at once.

Task ids outside ``[0, T)`` (possible only when the host did not check them, e.g. under CUDA-graph
capture) are sorted after every task, as one more segment whose tiles hold task -2: the kernels
write NaN there instead of reading an expert that does not exist.
"""

from __future__ import annotations

from typing import Tuple

import torch


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


EMPTY_TILE = -1      # a tile past the real ones
BAD_IDS_TILE = -2    # a tile of samples whose task id is out of range


def out_of_range(task_ids: torch.Tensor, num_tasks: int) -> torch.Tensor:
    """(N,) bool: ids outside ``[0, num_tasks)``."""
    return (task_ids < 0) | (task_ids >= num_tasks)


def task_rows(task_ids: torch.Tensor, num_tasks: int,
              rows_per_sample: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``order`` (N,) sorting samples by task, and ``bounds`` (T + 1, 2): each task's row range
    ``[begin, end)`` in that order (empty ranges for absent tasks), then the range of the
    samples with out-of-range ids (empty when the ids are valid)."""
    buckets = torch.where(out_of_range(task_ids, num_tasks), num_tasks, task_ids)
    counts = torch.zeros(num_tasks + 1, dtype=torch.int64, device=task_ids.device)
    counts.scatter_add_(0, buckets, torch.ones_like(buckets))
    order = torch.argsort(buckets, stable=True)
    row_end = torch.cumsum(counts * rows_per_sample, 0)
    bounds = torch.stack([row_end - counts * rows_per_sample, row_end], dim=1).contiguous()
    return order, bounds


def max_tiles(batch: int, rows_per_sample: int, num_tasks: int, block_m: int) -> int:
    """Static grid size: enough tiles for any assignment of the batch to tasks (and to the
    segment of out-of-range ids)."""
    return _cdiv(batch * rows_per_sample, block_m) + num_tasks + 1


def tile_table(bounds: torch.Tensor, num_tiles: int, block_m: int) -> torch.Tensor:
    """(num_tiles, 3) int64 rows ``(task, row_begin, row_end)`` from :func:`task_rows`'s
    bounds; task -1 marks an empty tile, -2 a tile of out-of-range ids."""
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
    bad_ids = task == bounds.shape[0] - 1
    task = torch.where(valid, torch.where(bad_ids, BAD_IDS_TILE, task), EMPTY_TILE)
    return torch.stack([task, begin, end], dim=1).contiguous()
