"""The batch's task plan as the kernels read it: the sort order and the per-task sample bounds.

Rows are (sample, position) pairs: output pixels for the forward and weight-gradient kernels,
input pixels for the input-gradient kernel, tokens for linear layers. In task order (``order``,
or the batch's own order when it is already sorted) each task owns one contiguous run of rows.
The plan's ``bounds`` ((T + 3,) sample bounds, ``lorkd_kernels/task_plan.py``) say where: segment
0 holds ids below 0, segments 1..T tasks 0..T-1, segment T+1 ids >= T. Every kernel finds the task
and rows of its tile from those T + 3 numbers on the device (``_tiles._plan_tile``); tiles never
cross a segment, so each reads one ``A_t``/``B_t``. The number of tiles is bounded by
``cdiv(rows, block_m) + T + 2`` whatever the task mix, which sizes the grid from shapes alone;
programs past the real tiles exit at once, and the tiles of out-of-range ids (possible only where
the host did not check them, e.g. under CUDA-graph capture) store NaN.

A batch's plan is made once (by ``task_ids_context`` for a model's forward pass, or by the op for
a standalone call) and reused by every kernel of every layer, forward and backward: no launch
builds a table.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from ...task_plan import attached_plan, segment_bounds


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class KernelPlan(NamedTuple):
    """What a launch needs of the batch's plan: ``order`` (or a placeholder when the batch is
    sorted, ``has_order`` False), ``bounds``, and whether the host checked that every id is in
    range (then no out-of-range segment can be non-empty); with them the call's one setting,
    whether fp32 dots may use TF32."""

    order: torch.Tensor
    has_order: bool
    bounds: torch.Tensor
    checked: bool
    tf32: bool


def tf32_allowed(layer_kind: str) -> bool:
    """Whether an fp32 EKS layer's dots may use TF32: as the plain layer's would. A conv follows
    ``torch.backends.cudnn.allow_tf32`` (on by default, as for ``nn.Conv2d``), a linear layer
    ``torch.get_float32_matmul_precision()`` (``"highest"`` by default: exact fp32, as for
    ``nn.Linear``; ``torch.backends.cuda.matmul.allow_tf32`` sets the same)."""
    if layer_kind == "conv":
        return torch.backends.cudnn.allow_tf32
    return torch.get_float32_matmul_precision() != "highest"


def kernel_plan(task_ids: torch.Tensor, num_tasks: int, layer_kind: str) -> KernelPlan:
    """The plan the ids carry, or one made here on the device (sorting always: without the plan
    the host has not read whether the batch is sorted), for a ``"conv"`` or ``"linear"`` layer."""
    plan = attached_plan(task_ids)
    checked = False
    if plan is not None:
        order: Optional[torch.Tensor] = plan.order
        bounds = plan.bounds(num_tasks)
        checked = plan.in_range(num_tasks)
    else:
        order = torch.argsort(task_ids, stable=True)
        bounds = segment_bounds(task_ids, num_tasks, order)
    tf32 = tf32_allowed(layer_kind)
    if order is None:
        return KernelPlan(bounds, False, bounds, checked, tf32)
    return KernelPlan(order, True, bounds, checked, tf32)


def bad_ids_flag(plan: KernelPlan, num_tasks: int) -> torch.Tensor:
    """A device bool: whether the batch holds an out-of-range id (no host read)."""
    b = plan.bounds
    return (b[1] > 0) | (b[num_tasks + 1] < b[num_tasks + 2])


def max_tiles(batch: int, rows_per_sample: int, num_tasks: int, block_m: int) -> int:
    """Static grid size: enough tiles for any assignment of the batch to the T + 2 segments."""
    return _cdiv(batch * rows_per_sample, block_m) + num_tasks + 2
