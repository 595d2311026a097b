"""A saved training run folder as the commands that read one see it: its settings, where its
data is now, its teacher file. Light on imports: no torch."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Optional, Sequence

from ..training.config import ConfigError, TrainConfig
from ..training.run_folder import run_entry_of
from ..training.settings_file import read_settings


class RunFolderError(RuntimeError):
    """A run folder whose files cannot be used (exit status 1)."""


def training_run(parser: argparse.ArgumentParser, run_dir: str) -> Path:
    """``run_dir`` as a path; a usage error (exit status 2) unless it holds a run's settings."""
    path = Path(run_dir)
    if not (path / "config.json").is_file():
        parser.error(f"{run_dir} is not a training run: {path / 'config.json'} is missing")
    return path


def check_output(
    parser: argparse.ArgumentParser, out: Optional[str], run_dir: Optional[Path], own: Sequence[str]
) -> None:
    """Usage errors, before anything is read or written, for an ``--out`` that is a folder, lies
    in no folder, or is (or lies inside) a file of the run in ``run_dir`` other than the
    command's ``own`` results (patterns)."""
    if out is None:
        return
    path = Path(out)
    entry = None if run_dir is None else run_entry_of(run_dir, path, own)
    if entry is not None:
        parser.error(
            f"--out {out!r} would replace {entry!r} of the run in {str(run_dir)!r}: "
            f"choose another file"
        )
    if path.is_dir():
        parser.error(f"--out {out!r} is a folder: give a file name")
    if not path.parent.is_dir():
        parser.error(f"--out {out!r}: {str(path.parent)!r} is not a folder")


def run_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.json"
    try:
        return TrainConfig.from_json(read_settings(path, source="the run's settings"))
    except ConfigError as err:
        raise RunFolderError(str(err)) from None


def data_config(config: TrainConfig, run_dir: Path, root: Optional[str]) -> TrainConfig:
    """The run's settings with its data found from DIR (a moved run folder keeps working)."""
    if root is not None:
        if not Path(root).is_dir():
            raise ConfigError(f"--root {root!r} is not a folder")
        return dataclasses.replace(config, root=root, out=str(run_dir))
    if config.root is None:  # the built-in benchmark, generated in the run folder
        return dataclasses.replace(config, out=str(run_dir))
    if not Path(config.root).is_dir():
        raise RunFolderError(f"the run's data folder {config.root!r} is missing: pass --root")
    return dataclasses.replace(config, out=str(run_dir))


def teacher_path(config: TrainConfig, run_dir: Path, flag: Optional[str]) -> Path:
    path = Path(flag or config.teacher_ckpt or run_dir / "teacher.pt")
    if not path.is_file():
        where = "--teacher-ckpt" if flag else "the run's teacher"
        raise RunFolderError(
            f"{where} {str(path)!r} is missing" + ("" if flag else ": pass --teacher-ckpt")
        )
    return path
