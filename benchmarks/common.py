"""Settings every benchmark suite shares, read from the environment once.

* ``LORKD_BENCH_SCOPE``: ``quick``, ``standard`` (default) or ``full``: how much of the parameter
  matrix runs (:mod:`benchmarks.scopes`).
* ``LORKD_BENCH_DEVICE``: ``cpu`` (default) or ``cuda`` (any torch device string).
* ``LORKD_BENCH_PROVIDERS``: comma-separated subset of providers to run (default: all available).
* ``LORKD_BENCH_TINY=1``: every problem shrunk to a few samples and pixels, the matrix to one
  representative case per dimension (the smoke run in the normal test suite).
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import torch

TINY = os.environ.get("LORKD_BENCH_TINY") == "1"
SCOPES = ("quick", "standard", "full")
SCOPE = os.environ.get("LORKD_BENCH_SCOPE", "standard").strip().lower() or "standard"
if SCOPE not in SCOPES:
    raise ValueError(f"LORKD_BENCH_SCOPE={SCOPE!r}; expected one of {', '.join(SCOPES)}")
DEVICE = torch.device(os.environ.get("LORKD_BENCH_DEVICE", "cpu").strip() or "cpu")
_PROVIDER_FILTER = os.environ.get("LORKD_BENCH_PROVIDERS", "").strip()
PROVIDER_FILTER: Optional[frozenset] = (
    frozenset(p.strip() for p in _PROVIDER_FILTER.split(",") if p.strip())
    if _PROVIDER_FILTER else None)

#: the paper's setting the layer and model suites centre on
NUM_TASKS = 10
RANK = 4


def synchronize(device: torch.device = DEVICE) -> None:
    """Wait for queued kernels, so a timing covers the work and not just its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device = DEVICE) -> Callable[[], None]:
    """``fn`` followed by a device synchronisation: what a benchmark round times."""
    def run() -> None:
        fn()
        synchronize(device)
    return run


def device_name(device: torch.device = DEVICE) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def requires_device() -> None:
    """Fail early and clearly when the requested device is not there."""
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("LORKD_BENCH_DEVICE=cuda but torch.cuda.is_available() is False")
