"""Writes files through a temporary sibling and ``os.replace`` so readers never see half a file."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # for the annotation only: the commands' --help loads this module
    import numpy as np


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable: without this, a power loss after os.replace can
    leave the old file, or none, although the write returned."""
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals renames
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open a temporary file next to ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    # Same directory, so os.replace is a rename on one file system and atomic; os.open with
    # mode 0o666 lets the umask set the permissions, as a plain open() would.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if err.filename is None:  # a failed write names no file: name the one it was for
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_npz(path: str | os.PathLike, arrays: Mapping[str, "np.ndarray"]) -> None:
    """Write ``arrays`` as a compressed ``.npz`` (the format MedMNIST ships) atomically."""
    import numpy as np  # here, not above: the commands' --help loads this module

    with atomic_open(path) as handle:
        # A file object, not a name: np.savez would append ".npz" to the temporary name.
        # typed as Any: the unpacked names could also reach savez's allow_pickle (a bool)
        np.savez_compressed(handle, **cast("Mapping[str, Any]", arrays))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    with atomic_open(path) as handle:
        handle.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
