"""Training checkpoints: written atomically, loaded with ``weights_only=True``, and never lost.

A save goes to a temporary file that replaces the checkpoint only once complete; the checkpoint
it replaces is kept as ``<name>.prev.pt``, so a damaged latest file still leaves a good one.
"""

from __future__ import annotations

import os
import pickle
import shutil
import zipfile
from pathlib import Path
from typing import Any, Dict

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
    try:
        os.link(path, staging)               # a second name for the same file: instant
    except OSError:
        shutil.copy2(path, staging)          # file systems without hard links
    os.replace(staging, backup)


def save(state: Dict[str, Any], path: os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically, keeping the checkpoint it replaces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _keep_previous(path)
    with atomic_open(path) as handle:
        torch.save(state, handle)


def load(path: os.PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile,
            pickle.UnpicklingError) as err:
        backup = previous_path(path)
        hint = (f"; the previous checkpoint {backup} is intact — move it to {path} to resume "
                f"from it" if backup.exists() else "")
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint ({err})"
                              f"{hint}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state
