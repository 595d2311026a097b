"""Training checkpoints: written atomically, loaded with ``weights_only=True``, and never lost.

A save goes to a temporary file that replaces the checkpoint only once complete; the checkpoint
it replaces is kept as ``<name>.prev.pt``, so a damaged latest file still leaves a good one, and
:func:`load_latest` falls back to it.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch

from ..atomic_files import atomic_open


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file and what to do."""


def previous_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".pt", "") + ".prev.pt")


def _keep_previous(path: Path) -> None:
    """Make ``<name>.prev.pt`` a copy of ``path`` without ever leaving ``path`` missing."""
    backup, staging = previous_path(path), path.with_name(f".{path.name}.prev.tmp")
    staging.unlink(missing_ok=True)
    if backup.exists() and os.path.samefile(path, backup):
        # Already kept (a save died after this step): renaming a second link of the same file
        # onto it would do nothing and leave the staging name behind.
        return
    try:
        os.link(path, staging)  # a second name for the same file: instant
    except OSError:
        shutil.copy2(path, staging)  # file systems without hard links
    os.replace(staging, backup)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of saves of ``path`` that a killed process left behind
    (``atomic_open`` names them ``.<name>.<pid>.<random>.tmp``); only one process saves a
    given checkpoint, so none of them is still being written."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def save(state: Dict[str, Any], path: os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically, keeping the checkpoint it replaces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    # A torch checkpoint is a zip file, whose directory is at its end: a truncated latest file
    # fails this cheap test and must not replace the good previous one.
    if path.exists() and zipfile.is_zipfile(path):
        _keep_previous(path)
    try:
        with atomic_open(path) as handle:
            torch.save(state, handle)
    except RuntimeError as err:
        # torch's zip writer reports a failed write (a full disk, say) as a RuntimeError whose
        # first line is its C++ source location; the file it was writing is what matters.
        if not any(mark in str(err) for mark in ("PytorchStreamWriter", "inline_container")):
            raise
        raise CheckpointError(
            f"cannot write checkpoint {path}: the disk may be full or the "
            f"file system failing (torch: {_last_line(err)})"
        ) from err


def _last_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _read(path: Path, map_location: Any) -> Dict[str, Any]:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
    ) as err:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a checkpoint "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state


def load(path: os.PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """The checkpoint at ``path``; a CheckpointError names the file (and its previous one)."""
    path = Path(path)
    try:
        return _read(path, map_location)
    except CheckpointError as err:
        backup = previous_path(path)
        if not backup.exists():
            raise
        raise CheckpointError(
            f"{err}; the previous checkpoint {backup} is kept — move it to {path} to use it"
        ) from err.__cause__


def load_latest(
    path: os.PathLike, map_location: Any = "cpu"
) -> Tuple[Dict[str, Any], Optional[str]]:
    """The checkpoint at ``path`` or, when that one is unreadable (a truncated write, a full
    disk), its previous one. Returns the state and, after a fallback, a one-line warning that
    names both files; raises CheckpointError naming the files when neither is usable."""
    path = Path(path)
    try:
        return _read(path, map_location), None
    except CheckpointError as err:
        latest_err = err
    backup = previous_path(path)
    if not backup.exists():
        raise CheckpointError(
            f"{latest_err}, and there is no previous checkpoint {backup.name} to fall back to"
        ) from latest_err
    try:
        state = _read(backup, map_location)
    except CheckpointError as backup_err:
        raise CheckpointError(
            f"{latest_err}; the previous one is unusable too: {backup_err}"
        ) from backup_err
    return state, f"warning: {latest_err}; using the previous checkpoint {backup}"
