"""The triton tests run the kernels under the Triton interpreter on CPU (or on a CUDA GPU).

They need ``TRITON_INTERPRET=1`` in the environment before triton decorates the kernels, so the
default test run skips them; ``.ci/run`` runs them in a step of their own. With
``--require triton`` a missing triton or interpreter is a failure, not a skip.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from tests import requirements

INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
HAS_TRITON = importlib.util.find_spec("triton") is not None
DEVICE = "cuda" if torch.cuda.is_available() and not INTERPRETING else "cpu"

if not HAS_TRITON:
    SKIP_REASON = "triton is not installed"
elif DEVICE == "cpu" and not INTERPRETING:
    SKIP_REASON = (
        "no GPU: the triton kernels run on CPU only under the interpreter; run "
        "TRITON_INTERPRET=1 python -m pytest tests/backends/triton"
    )
else:
    SKIP_REASON = None


@pytest.fixture(autouse=True)
def _triton_runs():
    """Every test here needs triton and a GPU or the interpreter: skipped without them, or failed
    under ``--require triton`` (only the tests that were selected)."""
    if SKIP_REASON is not None:
        requirements.unavailable("triton", SKIP_REASON)


@pytest.fixture
def poisoned_outputs(monkeypatch):
    """Kernel outputs start as NaN, so an element a kernel fails to write shows up."""
    from lorkd_kernels.backends.triton import conv

    def nan_output(shape, like):
        return torch.full(shape, float("nan"), dtype=like.dtype, device=like.device)

    monkeypatch.setattr(conv, "empty_output", nan_output)


@pytest.fixture
def small_tiles(monkeypatch):
    """Force the smallest tiles tl.dot allows and a 3-way row split in the weight gradient, so
    every mask and every cross-program reduction is exercised on small problems."""
    from lorkd_kernels.backends.triton import configs

    monkeypatch.setattr(configs, "block_rows", lambda rows: 16)
    monkeypatch.setattr(
        configs, "gemm_tiles", lambda rows, cols, depth: configs.GemmTiles(16, 16, 16, 4, 2)
    )
    monkeypatch.setattr(
        configs,
        "wgrad_tiles",
        lambda c_out_g, depth, rows, groups: configs.WgradTiles(16, 16, 16, 3, 4),
    )
