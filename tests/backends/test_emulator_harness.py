"""The CUDA emulation harness itself: a kernel thread that throws fails the launch with its error
instead of leaving the other threads waiting at a barrier forever, and a missing barrier is
exposed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import lorkd_kernels.ops  # noqa: F401  (loads the compiled library, whatever was imported first)
from lorkd_kernels import backends

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(
        not backends.compiled_loaded(), reason="the emulation harness is in the compiled library"
    ),
]

# In a child process, so that a hang fails this test (by its timeout) instead of the whole run.
PROBE = """
import sys, torch, lorkd_kernels
threads, failing = int(sys.argv[1]), int(sys.argv[2])
try:
    torch.ops.lorkd._cuda_emu_fault_probe(threads, failing)
except RuntimeError as err:
    print("raised:", str(err).splitlines()[0])
else:
    print("no error")
"""


@pytest.mark.parametrize("threads, failing", [(4, 0), (64, 17)])
def test_a_throwing_thread_fails_the_launch(threads, failing):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        result = subprocess.run(
            [sys.executable, "-c", PROBE, str(threads), str(failing)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the emulated launch hung after a kernel thread threw")
    assert result.returncode == 0, result.stderr
    assert f"raised: emulated kernel thread {failing} of block 0 failed" in result.stdout


def test_a_launch_without_failures_completes():
    torch.ops.lorkd._cuda_emu_fault_probe(8, -1)


@pytest.mark.parametrize("threads", [2, 64, 256])
def test_a_missing_barrier_is_exposed_on_every_run(threads):
    """Thread i reads the word thread i+1 writes: without a barrier between the write and the
    read, the shuffled order makes some thread read first (the reads form a cycle), every run."""
    for _ in range(3):
        assert torch.ops.lorkd._cuda_emu_race_probe(threads, False) >= 1
        assert torch.ops.lorkd._cuda_emu_race_probe(threads, True) == 0


def test_the_order_of_threads_changes_between_runs():
    """Unordered reads see a different set of written words on different runs (64 threads: the
    chance that 20 runs all read the same count is negligible)."""
    counts = {torch.ops.lorkd._cuda_emu_race_probe(64, False) for _ in range(20)}
    assert len(counts) > 1
