"""Peak memory a callable allocates on top of what was live when it started.

* CUDA: the caching allocator's own peak counter (``torch.cuda.max_memory_allocated``) minus the
  bytes allocated before the call.
* CPU: torch keeps no peak statistic for host memory, so the call runs under
  ``torch.profiler`` with ``profile_memory=True``, which records every allocation and free made
  through torch's CPU allocator (also those inside C++ kernels such as the ``cpu`` backend's and
  oneDNN's); the running sum of those events, in time order, peaks at the answer. Memory that
  bypasses torch's allocator (e.g. a BLAS library's private workspace) is not seen; it is the
  same for every provider built on the same convolution and GEMM routines.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from .common import synchronize

_MEMORY_EVENT = "[memory]"


def peak_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Bytes ``fn()`` needs at its peak beyond what was allocated before it ran."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(
        (
            e
            for e in prof.profiler.kineto_results.events()
            if e.name() == _MEMORY_EVENT and e.device_type() == DeviceType.CPU
        ),
        key=lambda e: e.start_ns(),
    )
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak
