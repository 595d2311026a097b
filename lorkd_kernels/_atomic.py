"""Atomic file writes for the library (the pipeline has its own, with directory syncs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union


def write_bytes_atomically(path: Union[str, os.PathLike], blob: bytes) -> Path:
    """Write ``blob`` to ``path`` through a temporary sibling renamed over it: a reader never
    sees half a file, and a failed write leaves the old file as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
