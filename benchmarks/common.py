"""Shared setup for the benchmark suites. LORKD_BENCH_TINY=1 shrinks every problem (smoke runs)."""

from __future__ import annotations

import os

TINY = os.environ.get("LORKD_BENCH_TINY") == "1"


def scaled(batch: int, size: int) -> tuple:
    """(batch, spatial size) of a benchmark problem, shrunk for smoke runs."""
    return (2, min(size, 8)) if TINY else (batch, size)
