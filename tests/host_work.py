"""Host work of a call, counted exactly from a ``torch.profiler`` trace: the device launches it
would make on a GPU, the ATen calls it issues and its host reads of device data (syncs).

* An ``aten::`` event counts when no ancestor is an ``aten::`` event (composite ops once) and no
  ancestor is a Triton launch (the interpreter's own tensor work). It is a **launch** unless it,
  and every ATen call under it, only makes or views tensor metadata (``METADATA_OPS``).
* A **kernel launch** is one call of the Triton interpreter's grid executor
  (``TRITON_INTERPRET=1``), recorded here as ``triton::launch``, or one launch of the emulated
  CUDA C++ kernels, which the emulator records as ``cuda_emu::launch``.
* A **sync** is an ATen call that reads device data on the host (``SYNC_OPS``) or the library's
  own one read of a batch's task ids (``lorkd::read_task_ids``, a single copy of the ids).
  A ``TorchDispatchMode`` would not see the ATen calls made inside a custom op; the profiler does.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from torch.profiler import ProfilerActivity, profile, record_function

SYNC_OPS = frozenset(
    {
        "aten::_local_scalar_dense",
        "aten::item",
        "aten::is_nonzero",
        "aten::nonzero",
        "lorkd::read_task_ids",
    }
)
METADATA_OPS = frozenset(
    {
        "aten::empty",
        "aten::empty_strided",
        "aten::empty_like",
        "aten::new_empty",
        "aten::new_empty_strided",
        "aten::view",
        "aten::reshape",
        "aten::_reshape_alias",
        "aten::_unsafe_view",
        "aten::as_strided",
        "aten::contiguous",
        "aten::t",
        "aten::transpose",
        "aten::permute",
        "aten::unsqueeze",
        "aten::squeeze",
        "aten::expand",
        "aten::select",
        "aten::slice",
        "aten::detach",
        "aten::alias",
        "aten::lift_fresh",
        "aten::resolve_conj",
        "aten::resolve_neg",
        "aten::result_type",
        "aten::to",
        "aten::_to_copy_noop",
        "aten::unbind",
        "aten::split",
        "aten::narrow",
        "aten::flatten",
        "aten::unflatten",
        "aten::view_as",
        "aten::expand_as",
        "aten::detach_",
        "aten::set_",
        "aten::numpy_T",
        "aten::movedim",
    }
)
TRITON_LAUNCH = "triton::launch"
KERNEL_LAUNCHES = frozenset({TRITON_LAUNCH, "cuda_emu::launch"})


@dataclass
class HostWork:
    launches: int = 0  # device launches on a GPU: kernels plus launching ATen calls
    triton_launches: int = 0  # Triton or emulated CUDA C++ kernels
    aten_calls: int = 0  # top-level ATen calls, metadata-only ones included
    syncs: int = 0
    ops: Counter = field(default_factory=Counter)  # launching ATen calls by name

    def __str__(self) -> str:
        return (
            f"{self.launches} launches ({self.triton_launches} kernels), "
            f"{self.aten_calls} ATen calls, {self.syncs} syncs: {dict(self.ops)}"
        )


@contextlib.contextmanager
def _recorded_triton_launches() -> Iterator[None]:
    try:
        from triton.runtime import interpreter
    except ImportError:  # no triton: nothing to record
        yield
        return
    original = interpreter.GridExecutor.__call__

    def call(self, *args, **kwargs):
        with record_function(TRITON_LAUNCH):
            return original(self, *args, **kwargs)

    interpreter.GridExecutor.__call__ = call
    try:
        yield
    finally:
        interpreter.GridExecutor.__call__ = original


def _ancestors(event):
    parent = event.cpu_parent
    while parent is not None:
        yield parent
        parent = parent.cpu_parent


def _descendants(event):
    for child in event.cpu_children:
        yield child
        yield from _descendants(child)


def _launches(event) -> bool:
    if event.name not in METADATA_OPS:
        return True
    return any(
        d.name.startswith("aten::") and d.name not in METADATA_OPS for d in _descendants(event)
    )


def count_host_work(fn: Callable[[], object]) -> HostWork:
    """Run ``fn()`` once under the profiler and count its host work (module docstring)."""
    with _recorded_triton_launches(), profile(activities=[ProfilerActivity.CPU]) as trace:
        fn()
    work = HostWork()
    for event in trace.events():
        outer = [a.name for a in _ancestors(event)]
        if KERNEL_LAUNCHES.intersection(outer):
            continue
        if event.name in KERNEL_LAUNCHES:
            work.triton_launches += 1
        if event.name in SYNC_OPS and not any(n in SYNC_OPS for n in outer):
            work.syncs += 1
        if event.name.startswith("aten::") and not any(n.startswith("aten::") for n in outer):
            work.aten_calls += 1
            if _launches(event):
                work.ops[event.name] += 1
    work.launches = work.triton_launches + sum(work.ops.values())
    return work
