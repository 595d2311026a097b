"""The ``--out`` folder: what a run writes there, what it never touches, and the check that a
resumed run keeps the saved run's settings. Everything here runs before any file is written."""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..atomic_files import write_json
from .config import RESUMABLE_CHANGES, ConfigError, TrainConfig, flag
from .settings_file import read_settings, saved_form, written_by_training

# What a run writes into DIR besides its data.
RUN_OUTPUTS = (
    "checkpoints",
    "experts",
    "tensorboard",
    "teacher.pt",
    "teacher.prev.pt",
    "student.pt",
    "student.prev.pt",
    "metrics.json",
    "metrics.csv",
    "epochs.csv",
    "costs.json",
    "costs.md",
    "config.json",
)
# Results the other commands write there about the run's models (evaluate, transfer), and
# temporary files of interrupted atomic writes: stale once the run is trained afresh.
RESULT_FILES = ("evaluation-*.json", "evaluation-*.md", "transfer-*.json", ".*.tmp")
# The generated synthetic benchmark: only data, kept by --overwrite.
DATA = "synthetic"
CONFIG = "config.json"


def _is_result(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in RESULT_FILES)


def _tools_name(name: str) -> bool:
    """Whether ``name`` is one the tools write in a run folder."""
    return name in RUN_OUTPUTS or name == DATA or _is_result(name)


def _written_by_the_tools(out: Path, name: str) -> bool:
    if name == CONFIG:
        return written_by_training(out / name)
    return _tools_name(name)


def run_entry_of(run_dir: Path, path: Path, own: Sequence[str] = ()) -> Optional[str]:
    """The entry of run folder ``run_dir`` (a file or folder the tools write there) that
    ``path`` is or lies inside, or None. Names matching ``own`` (the asking command's own outputs
    directly in the run folder) are not counted: a command may replace its earlier results."""
    try:
        parts = path.resolve().relative_to(run_dir.resolve()).parts
    except ValueError:
        return None
    if not parts:  # the folder itself: no file to replace
        return None
    name = parts[0]
    if len(parts) == 1 and any(fnmatch.fnmatch(name, pattern) for pattern in own):
        return None
    return name if _tools_name(name) else None


def check_new_run(config: TrainConfig) -> None:
    """A new run needs an empty or new ``--out``, or one holding only an earlier run's outputs
    with ``--overwrite``; files the tools did not write are never replaced or removed."""
    out = Path(config.out)
    if not out.is_dir():
        return
    entries = sorted(os.listdir(out))
    foreign = [name for name in entries if not _written_by_the_tools(out, name)]
    if foreign:
        listed = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ConfigError(
            f"--out {config.out!r} holds files lorkd_kernels.train did not write "
            f"({listed}); choose an empty or new folder"
        )
    if any(name in RUN_OUTPUTS for name in entries) and not config.overwrite:
        raise ConfigError(
            f"--out {config.out!r} holds an earlier run: pass --resume to continue "
            f"it, --overwrite to start afresh, or choose another --out"
        )


def saved_settings(out: str) -> Dict[str, Any]:
    """The settings of the run in ``out`` (for ``--resume``)."""
    path = Path(out) / CONFIG
    if not path.is_file():
        raise ConfigError(f"--resume: --out {out!r} holds no run to resume ({path} is missing)")
    if not written_by_training(path):
        raise ConfigError(f"--resume: {path} was not written by lorkd_kernels.train")
    return read_settings(path, source="--resume: the run's")


def resume_mismatches(
    saved: Dict[str, Any], requested: Dict[str, Any], defaults: TrainConfig
) -> List[str]:
    """Requested settings that differ from the saved run's (RESUMABLE_CHANGES may differ)."""
    problems = []
    for name, value in requested.items():
        if name in RESUMABLE_CHANGES or name not in defaults.run_settings():
            continue
        before = saved.get(name, getattr(defaults, name))
        if value != before:
            problems.append(f"{flag(name)} {value!r} (the run has {before!r})")
    return problems


def prepare(config: TrainConfig, version: str) -> None:
    """Make ``--out``, clear an earlier run's outputs and the results about them for
    ``--overwrite`` (the generated data stays), save config.json."""
    out = Path(config.out)
    if config.overwrite and out.is_dir():
        for name in os.listdir(out):
            path = out / name
            if name not in RUN_OUTPUTS and not _is_result(name):
                continue
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    if not config.resume:
        write_json(out / CONFIG, saved_form(config.run_settings(), version))
