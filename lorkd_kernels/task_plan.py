"""The batch's task plan: what every EKS layer of a forward and backward pass needs to know about
the task ids, worked out once per batch instead of once per layer call.

A mixed batch reaches dozens of EKS layers, each with a forward and a backward op. Per call, the
ops used to range-check the ids on the host (two device syncs on a GPU) and the GPU kernels to
sort the ids and build a tile table from about thirty small tensor ops. A :class:`TaskPlan` holds
the answers for the whole batch:

* ``host_ids``: the ids copied to the host **once** (one sync for the batch; a batch has a few
  hundred ids at most, so the copy costs its latency, not its bytes). Their ``id_range``
  ``(min, max)``, whether they are sorted and the samples per task (:meth:`TaskPlan.task_counts`,
  which the ``torch`` backend needs as Python ints) are worked out from it on the host, so no op
  reads the device again. ``None`` where the host may not read the ids (``torch.compile``
  tracing, CUDA-graph capture): there the kernels' NaN contract for bad ids holds.
* ``order``: the stable permutation that sorts the batch by task (``None`` when it already is).
* ``bounds(T)``: an int64 ``(T + 3,)`` tensor on the ids' device, computed once per number of
  tasks: segment ``s`` of the sorted batch is samples ``[bounds[s], bounds[s + 1])``; segment 0
  holds ids below 0, segments ``1..T`` tasks ``0..T-1``, segment ``T + 1`` ids ``>= T``. The GPU
  kernels find each tile's task from it on the device, so no per-kernel table is built.

:func:`~lorkd_kernels.routing.task_ids_context` (and so ``TaskRouter`` and the models' own
``task_ids`` argument) makes the plan of its batch and hands the layers an alias of the ids that
carries it; the layers pass that alias to the ops as usual, and autograd saves it for the
backward, so the backward ops find the same plan. An op called with ids that carry no plan (a
standalone call) makes one for itself, used by all the kernels of that call.

A plan belongs to one version of its ids: an in-place change of the ids makes it stale, and it is
then ignored (autograd refuses such a backward anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from .task_ids import inverse_permutation

# The attribute of the ids alias that carries its plan (an alias the library made, never the
# caller's own tensor, so nothing is added to a user's object or to what it pickles).
_ATTRIBUTE = "_lorkd_task_plan"


@dataclass(frozen=True)
class HostRead:
    """What the one host read of a batch gives: the ids on the host, their ``(min, max)`` and
    whether they are sorted."""

    ids: torch.Tensor
    id_range: Tuple[int, int]
    is_sorted: bool


class TaskPlan:
    """A batch's task ids, their range, their sort order and per-task bounds (module docstring).

    Build one with :func:`plan_batch`; the ops find it with :func:`attached_plan`.
    """

    def __init__(self, task_ids: torch.Tensor, read: Optional[HostRead]) -> None:
        self.task_ids = task_ids
        self.host_ids = None if read is None else read.ids
        self.id_range = None if read is None else read.id_range
        self.is_sorted = None if read is None else read.is_sorted
        self._version = task_ids._version
        self._order: Optional[torch.Tensor] = None
        self._bounds: Dict[int, torch.Tensor] = {}
        self._counts: Dict[int, List[int]] = {}

    @property
    def order(self) -> Optional[torch.Tensor]:
        """The stable permutation sorting the batch by task; None when it is known to be sorted."""
        if self.is_sorted:
            return None
        if self._order is None:
            self._order = torch.argsort(self.task_ids, stable=True)
        return self._order

    def bounds(self, num_tasks: int) -> torch.Tensor:
        """(T + 3,) int64 sample bounds of the segments of the sorted batch (module docstring)."""
        bounds = self._bounds.get(num_tasks)
        if bounds is None:
            bounds = segment_bounds(self.task_ids, num_tasks, self.order)
            self._bounds[num_tasks] = bounds
        return bounds

    def task_counts(self, num_tasks: int) -> List[int]:
        """Samples of each task ``0..T-1`` as Python ints, from the host copy (no device read).
        Only for a plan whose ids the host read (``host_ids`` is not None)."""
        counts = self._counts.get(num_tasks)
        if counts is None:
            if self.host_ids is None:
                raise RuntimeError("task_counts needs a plan whose ids the host read")
            buckets = self.host_ids.clamp(-1, num_tasks) + 1
            counts = torch.bincount(buckets, minlength=num_tasks + 2)[1:-1].tolist()
            self._counts[num_tasks] = counts
        return counts

    def check_range(self, num_tasks: int) -> None:
        """IndexError if an id lies outside ``[0, num_tasks)``, from the range read once."""
        if self.id_range is None or self.task_ids.numel() == 0:
            return
        low, high = self.id_range
        if low < 0 or high >= num_tasks:
            raise IndexError(
                f"task_ids contains {low if low < 0 else high}, outside "
                f"[0, {num_tasks}) (num_tasks = {num_tasks})"
            )

    def in_range(self, num_tasks: int) -> bool:
        """Whether the host read the ids and found every one in ``[0, num_tasks)``."""
        if self.id_range is None:
            return False
        return self.task_ids.numel() == 0 or (
            self.id_range[0] >= 0 and self.id_range[1] < num_tasks
        )

    def is_current(self) -> bool:
        return self._version == self.task_ids._version


def segment_bounds(
    task_ids: torch.Tensor, num_tasks: int, order: Optional[torch.Tensor]
) -> torch.Tensor:
    """(T + 3,) int64 sample bounds of the segments ``ids < 0``, task 0, ..., task T-1,
    ``ids >= T`` of the batch sorted by ``order`` (None: already sorted). Device ops only: no sync,
    static shapes."""
    buckets = task_ids.clamp(-1, num_tasks)
    if order is not None:
        buckets = buckets.index_select(0, order)
    edges = torch.arange(-1, num_tasks + 2, dtype=torch.int64, device=task_ids.device)
    return torch.searchsorted(buckets, edges)


def read_ids(task_ids: torch.Tensor) -> HostRead:
    """The one host read of a batch: the ids copied to the host (a single device sync; ids already
    on the host are not copied) and their range and order worked out there. Named
    ``lorkd::read_task_ids`` in profiler traces."""
    with torch.profiler.record_function("lorkd::read_task_ids"):
        host = task_ids if task_ids.device.type == "cpu" else task_ids.to("cpu")
        if host.numel() == 0:
            return HostRead(host, (0, 0), True)
        ordered = (host[1:] >= host[:-1]).all().long()
        low, high, is_sorted = torch.stack([*torch.aminmax(host), ordered]).tolist()
    return HostRead(host, (low, high), bool(is_sorted))


def host_may_read(task_ids: torch.Tensor) -> bool:
    """Whether the host may read ``task_ids`` now: not while ``torch.compile`` traces (the ids are
    symbolic), not on the meta device (no data) and not while a CUDA graph is captured."""
    if torch.compiler.is_compiling() or task_ids.is_meta:
        return False
    return not (task_ids.is_cuda and torch.cuda.is_current_stream_capturing())


def plan_batch(task_ids: torch.Tensor, read_host: Optional[bool] = None) -> TaskPlan:
    """The plan of a batch's ids (one host read where ``read_host``, by default where the host
    may read: the range and whether the batch is sorted)."""
    if read_host is None:
        read_host = host_may_read(task_ids)
    return TaskPlan(task_ids, read_ids(task_ids) if read_host else None)


def carrying_plan(task_ids: torch.Tensor) -> torch.Tensor:
    """An alias of ``task_ids`` (same memory, same version counter) that carries the batch's plan,
    for the layers of one forward pass. Under ``torch.compile`` the ids themselves (the ops then
    make their plans inside the graph)."""
    if torch.compiler.is_compiling() or attached_plan(task_ids) is not None:
        return task_ids
    return attach(plan_batch(task_ids.detach()))


def attach(plan: TaskPlan) -> torch.Tensor:
    """``plan.task_ids`` (an alias the library made) carrying ``plan``."""
    setattr(plan.task_ids, _ATTRIBUTE, plan)
    _note_range_for_compiled_kernels(plan)
    return plan.task_ids


def sorted_by_task(
    task_ids: torch.Tensor,
) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor], torch.Tensor]:
    """``(order, inverse, sorted ids carrying their plan)``: ``order`` sorts the batch by task
    (stable), ``inverse`` undoes it; both None when the batch is sorted. At most one host read
    (none under ``torch.compile``, which always sorts)."""
    if torch.compiler.is_compiling():
        perm = torch.argsort(task_ids, stable=True)
        return perm, inverse_permutation(perm), task_ids.index_select(0, perm)
    ids = carrying_plan(task_ids)
    plan = attached_plan(ids)
    assert plan is not None  # carrying_plan has just attached a current one
    if plan.is_sorted:
        return None, None, ids
    order = plan.order
    assert order is not None  # None only for a batch known to be sorted
    sorted_ids = task_ids.index_select(0, order)
    # a plan that knows the batch is unsorted read the ids
    assert plan.host_ids is not None and plan.id_range is not None
    sorted_read = HostRead(torch.sort(plan.host_ids).values, plan.id_range, True)
    sorted_plan = TaskPlan(sorted_ids, sorted_read)
    return order, inverse_permutation(order), attach(sorted_plan)


def planned_on(task_ids: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host ids (a data loader's) moved to ``device``, carrying their plan: the range and order are
    read on the host before the copy, so the device is never synced for them."""
    return attach(TaskPlan(task_ids.to(device).detach(), read_ids(task_ids)))


def attached_plan(task_ids: torch.Tensor) -> Optional[TaskPlan]:
    """The current plan carried by ``task_ids``, or None."""
    if torch.compiler.is_compiling():
        return None
    plan = getattr(task_ids, _ATTRIBUTE, None)
    return plan if plan is not None and plan.is_current() else None


def _note_range_for_compiled_kernels(plan: TaskPlan) -> None:
    """Tell the compiled library the range read for these ids, so its GPU kernels' host check
    reads it instead of copying the ids to the host per call."""
    from .backends import library

    if plan.id_range is not None and library.loaded() and library.has_range_notes():
        torch.ops.lorkd._note_task_id_range(plan.task_ids, *plan.id_range)
