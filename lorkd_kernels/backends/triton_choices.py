"""The triton backend's measured conv forms: which of ``fused`` and ``split`` runs each key.

With the triton strategy ``auto`` (``_settings.py``) and measuring on (the one switch,
``measured.is_measuring``), the first call of each key times both forms on its own inputs
(``timing.fastest``) and later calls run the fastest. The key: direction (forward, or backward with
its gradient mask, coded as the cpu backend codes it), dtype, device, the x and weight shapes, the
conv configuration, the task mix (number of tasks present, whether the ids are sorted, as in
``csrc/cpu/eks_conv2d.cpp``) and whether x is channels-last. The task mix comes from the batch's
task plan (``task_plan.py``: its host copy of the ids, so a planned batch is not read again; other
ids are read once), so a call where the host may not read them (``host_checks.may_read``:
CUDA-graph capture, ``torch.compile`` tracing, host checks off) is not measured and runs
``split``.

The table lives in this process; ``measured.save_choices`` / ``load_choices`` keep it in the same
file as the cpu backend's choices. This module imports no triton.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .. import task_plan
from . import host_checks, timing

#: what each column of a saved row holds (the key, then the chosen form)
COLUMNS = (
    "direction",
    "dtype",
    "device",
    "device_index",
    "batch",
    "in_channels",
    "height",
    "width",
    "out_channels",
    "in_channels_per_group",
    "kernel_h",
    "kernel_w",
    "stride_h",
    "stride_w",
    "padding_h",
    "padding_w",
    "dilation_h",
    "dilation_w",
    "groups",
    "task_runs",
    "sorted",
    "channels_last",
    "form",
)
FORMS = ("fused", "split")
_TEXT_COLUMNS = ("dtype", "device", "form")

#: the clock the measurements read (a test replaces it to decide which form "is faster")
clock: Callable[[], float] = time.perf_counter

_lock = threading.Lock()
_table: Dict[tuple, str] = {}


def direction_code(output_mask: Optional[Sequence[bool]]) -> int:
    """0 for the forward; 1 + the gradient mask's bits for a backward (the cpu backend's code)."""
    if output_mask is None:
        return 0
    return 1 + sum(int(bool(need)) << (i + 1) for i, need in enumerate(output_mask))


def _task_mix(task_ids: torch.Tensor) -> Tuple[int, int]:
    """(tasks present, sorted): a mixed batch's class, not its exact order, so the random
    batches of training share a key instead of measuring again whenever the order changes.
    From the plan's host copy of the ids (no device read for a planned batch)."""
    plan = task_plan.attached_plan(task_ids)
    if plan is None or plan.host_ids is None:
        plan = task_plan.plan_batch(task_ids, read_host=True)
    ids = plan.host_ids
    assert ids is not None and plan.is_sorted is not None  # a plan the host read
    if ids.numel() == 0:
        return 0, 1
    return int(torch.unique(ids).numel()), int(plan.is_sorted)


def key_of(
    output_mask,
    x: torch.Tensor,
    weight: torch.Tensor,
    task_ids: torch.Tensor,
    stride,
    padding,
    dilation,
    groups: int,
) -> Optional[tuple]:
    """This call's key, or None when it cannot be measured (an empty batch, ids the host may not
    read). ``output_mask`` is None for the forward."""
    if x.shape[0] == 0 or not host_checks.may_read(task_ids):
        return None
    index = -1 if x.device.index is None else x.device.index
    return (
        direction_code(output_mask),
        str(x.dtype).replace("torch.", ""),
        x.device.type,
        index,
        *x.shape,
        *weight.shape,
        *stride,
        *padding,
        *dilation,
        int(groups),
        *_task_mix(task_ids),
        int(x.is_contiguous(memory_format=torch.channels_last)),
    )


def _sync(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def run_measured(key: tuple, run: Callable[[str], object], device: torch.device):
    """``run(form)`` with the form recorded for ``key``, measuring both forms on the first call."""
    with _lock:
        known = _table.get(key)
    if known is not None:
        return run(known)
    form, result = timing.fastest(FORMS, run, clock=clock, sync=_sync(device))
    with _lock:
        _table[key] = form
    return result


def rows() -> List[list]:
    """The choices so far, one row per key (columns :data:`COLUMNS`), in key order."""
    with _lock:
        return [[*key, form] for key, form in sorted(_table.items())]


def clear_choices() -> None:
    with _lock:
        _table.clear()


def malformed(row) -> bool:
    """Whether ``row`` is not a row of :data:`COLUMNS` this version can use."""
    if not isinstance(row, list) or len(row) != len(COLUMNS):
        return True
    for name, value in zip(COLUMNS, row):
        wanted = str if name in _TEXT_COLUMNS else int
        if not isinstance(value, wanted) or isinstance(value, bool):
            return True
    dtype = getattr(torch, row[COLUMNS.index("dtype")], None)
    return not isinstance(dtype, torch.dtype) or row[-1] not in FORMS


def load_rows(loaded: List[list]) -> None:
    """Add rows (checked with :func:`malformed`) to the table."""
    with _lock:
        for row in loaded:
            _table[tuple(row[:-1])] = row[-1]
