"""SIGTERM/SIGINT become a request to stop after the current step, so the loop can save a
checkpoint first (a cluster's pre-emption notice, or Ctrl-C)."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class StopRequest:
    def __init__(self) -> None:
        self.signum = 0

    @property
    def requested(self) -> bool:
        return self.signum != 0

    def _handle(self, signum, frame) -> None:
        self.signum = signum


class TrainingInterrupted(Exception):
    """Raised after the checkpoint is written; carries the signal for the exit status."""

    def __init__(self, signum: int, checkpoint: str) -> None:
        super().__init__(
            f"stopped by signal {signum}; checkpoint saved to {checkpoint}; "
            f"run again with --resume to continue"
        )
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be installed in the main thread
        return
    previous = {s: signal.signal(s, request._handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
