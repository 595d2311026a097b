"""Whether the backends of the GPU kernels read task ids on the host to range-check them.

The ``cuda``, ``cuda_emu`` and ``triton`` kernels never index memory with a task id outside
``[0, T)``: such a sample gets NaN outputs and input gradients, and every weight gradient of its
batch is NaN. The readable ``IndexError`` comes from a check on the host, which reads the ids:
a device sync on a GPU, and impossible while a CUDA graph is being captured or while
``torch.compile`` traces a launcher, where it is skipped.
:func:`host_task_id_checks` turns it off (or back on) for those three backends; the ``cpu``,
``torch`` and ``reference`` backends index with the ids and always check.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..task_plan import host_may_read
from . import library

_enabled = True


def may_read(task_ids: torch.Tensor) -> bool:
    """Whether a GPU-kernel backend range-checks ``task_ids`` on the host for this call."""
    # While torch.compile / torch.export trace a kernel launcher (the triton backend's
    # triton_ops), the ids are symbolic: reading them would break the graph, and the compiled
    # graph later launches the kernels without this Python. The kernels' NaN contract holds.
    return _enabled and host_may_read(task_ids)


@contextlib.contextmanager
def host_task_id_checks(enabled: bool) -> Iterator[None]:
    """Inside the block, the ``cuda``, ``cuda_emu`` and ``triton`` backends range-check task ids
    on the host (an ``IndexError``) only if ``enabled``; without the check (no device sync) bad
    ids give NaN, as under CUDA-graph capture."""
    global _enabled
    previous = _enabled
    _enabled = bool(enabled)
    previous_cpp = (torch.ops.lorkd._set_host_task_id_checks(_enabled) if library.loaded()
                    else None)
    try:
        yield
    finally:
        _enabled = previous
        if previous_cpp is not None:
            torch.ops.lorkd._set_host_task_id_checks(previous_cpp)
