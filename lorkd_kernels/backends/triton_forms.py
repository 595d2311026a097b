"""Which form of the EKS conv the ``triton`` backend runs: ``auto``, ``fused`` or ``split``.

* ``fused``: the implicit-GEMM kernels of ``triton/conv.py``, base GEMM and expert branch in one
  pass over x (forward) and dy (backward).
* ``split``: the base convolution as ``nn.Conv2d`` runs it (cuDNN on a GPU) and Triton kernels for
  the expert branch only (``triton/split.py``); its cost is the plain layer's plus the branch's.
* ``auto`` (the default): with measuring on (``backends.measuring()`` or ``LORKD_MEASURE=1``, the
  switch of the cpu backend's measured choices), the first call of each conv key times both
  forms and later calls run the faster (``triton_choices.py``); with measuring off, ``split``,
  which can lose to the plain conv by no more than the branch costs.

``LORKD_TRITON_STRATEGY`` sets it for the process (read here and nowhere else);
``lorkd_kernels.backends.triton_strategy(name)`` forces it inside a block. Linear layers always
run the fused kernels (their base is one GEMM either way). This module imports no triton, so the
switch is usable before the backend is loaded.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator, Optional

STRATEGIES = ("auto", "fused", "split")
ENV = "LORKD_TRITON_STRATEGY"

_forced: Optional[str] = None


def _checked(name: str, source: str) -> str:
    if name not in STRATEGIES:
        raise ValueError(f"{source}={name!r} is not a triton strategy; choose one of "
                         f"{', '.join(STRATEGIES)}")
    return name


def current() -> str:
    """The forced strategy, else ``LORKD_TRITON_STRATEGY``, else ``auto``."""
    if _forced is not None:
        return _forced
    name = os.environ.get(ENV, "").strip().lower()
    return _checked(name, ENV) if name else "auto"


@contextlib.contextmanager
def forced(name: str) -> Iterator[None]:
    """Run the triton backend's convs in form ``name`` inside the block."""
    global _forced
    _checked(name, "triton_strategy")
    previous, _forced = _forced, name
    try:
        yield
    finally:
        _forced = previous
