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
from . import _settings


def may_read(task_ids: torch.Tensor) -> bool:
    """Whether a GPU-kernel backend range-checks ``task_ids`` on the host for this call."""
    # While torch.compile / torch.export trace a kernel launcher (the triton backend's
    # triton_ops), the ids are symbolic: reading them would break the graph, and the compiled
    # graph later launches the kernels without this Python. The kernels' NaN contract holds.
    # host_may_read first: it answers while torch.compile traces, without the settings (a
    # context variable, which the tracer cannot read)
    return host_may_read(task_ids) and _settings.current().host_task_id_checks


@contextlib.contextmanager
def host_task_id_checks(enabled: bool) -> Iterator[None]:
    """Inside the block, the ``cuda``, ``cuda_emu`` and ``triton`` backends range-check task ids
    on the host (an ``IndexError``) only if ``enabled``; without the check (no device sync) bad
    ids give NaN, as under CUDA-graph capture. A block of ``_settings.settings``."""
    with _settings.settings(host_task_id_checks=bool(enabled)):
        yield
