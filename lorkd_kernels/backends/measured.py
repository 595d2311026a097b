"""The CPU conv algorithm chosen by measurement on this machine, as ``cudnn.benchmark`` does.

The ``cpu`` backend has four exact forms of an EKS convolution (``csrc/cpu/eks_conv2d.cpp``):
split, split with the shrink stacked over all tasks, merged per task and merged per sample. By
default a cost model picks one per call (``csrc/cpu/strategy.cpp``), tuned on one CPU; which form
wins differs by machine. With measuring on, the first call of each key (shapes, dtype, forward or
backward with its gradient mask, the task mix: number of tasks present and whether the batch is
sorted, memory format) times every candidate on that call's inputs (one warm-up and two timed runs
each) and later calls reuse the fastest. The choices can be saved to a file and loaded in later
processes, so a machine pays for the measurements once.

Off by default: with measuring on, which form runs depends on timings, so the rounding of the
results may differ between processes (every form is exact up to float rounding). Turn it on with
:func:`measuring`, :func:`set_measuring`, or ``LORKD_MEASURE=1``; with ``LORKD_STRATEGY_CACHE=FILE``
the choices are loaded from FILE when the backends load and saved back to it at exit.

The same switch lets the ``triton`` backend choose, per conv key, between its fused kernels and
its split form (``triton_choices.py``); one file holds both tables (format 2, below). Files of
format 1 (the cpu table alone) still load.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Iterator, Union

import torch

from .._atomic import write_bytes_atomically
from . import _settings, library, triton_choices

ENV_CACHE = "LORKD_STRATEGY_CACHE"
#: the file: {"format": FORMAT, "version": 2, <machine>, "cpu": TABLE, "triton": TABLE}, where
#: TABLE = {"columns": [...], "rows": [[...], ...]}
FORMAT = "lorkd-conv-choices"
FORMAT_VERSION = 2
#: the earlier file, the cpu table alone: {"format": ..., "version": 1, "columns", "rows"}
FORMAT_1 = ("lorkd-cpu-conv-choices", 1)
#: what each column of a saved row holds (the table's key, then the chosen form)
COLUMNS = (
    "direction",
    "dtype",
    "batch",
    "in_channels",
    "height",
    "width",
    "out_channels",
    "kernel_h",
    "kernel_w",
    "stride_h",
    "stride_w",
    "padding_h",
    "padding_w",
    "dilation_h",
    "dilation_w",
    "groups",
    "task_runs",
    "sorted",
    "channels_last",
    "path",
)


def paths() -> tuple:
    """The forms' names, by the code in the ``path`` column (the compiled library's list)."""
    _require_library()
    return tuple(torch.ops.lorkd._cpu_conv_path_names())


class StrategyCacheError(ValueError):
    """A file of measured choices that cannot be read; the message names it."""


def _require_library() -> None:
    if not library.loaded():
        raise RuntimeError(
            "measured conv choices need the compiled cpu backend (lorkd_kernels._C),"
            " which is not loaded"
        )


def set_measuring(enabled: bool) -> bool:
    """Turn measuring on or off by default for this process (the ``measuring`` setting,
    ``_settings.py``); returns the previous default. It applies to the cpu backend while its conv
    strategy is ``auto`` (see :func:`conv_strategy`) and to the triton backend while its strategy
    is ``auto``."""
    return _settings.set_defaults(measuring=bool(enabled)).measuring


def is_measuring() -> bool:
    return _settings.current().measuring


@contextlib.contextmanager
def measuring(enabled: bool = True) -> Iterator[None]:
    """Measuring on (or off) inside the block, in this context."""
    with _settings.settings(measuring=bool(enabled)):
        yield


def choices() -> torch.Tensor:
    """The cpu backend's measured choices so far: one int64 row per key, columns
    :data:`COLUMNS` (the triton backend's: ``triton_choices.rows``)."""
    _require_library()
    return torch.ops.lorkd._cpu_measured_table()


def clear_choices() -> None:
    """Forget the measured choices of both backends."""
    triton_choices.clear_choices()
    if library.loaded():
        torch.ops.lorkd._cpu_clear_measured_table()


def save_choices(path: Union[str, os.PathLike]) -> int:
    """Write both backends' measured choices to ``path`` (JSON, atomically); returns how many."""
    cpu_rows, triton_rows = choices().tolist(), triton_choices.rows()
    record = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu": {"columns": list(COLUMNS), "rows": cpu_rows},
        "triton": {"columns": list(triton_choices.COLUMNS), "rows": triton_rows},
    }
    write_bytes_atomically(path, (json.dumps(record) + "\n").encode())
    return len(cpu_rows) + len(triton_rows)


def _cpu_row_malformed(row) -> bool:
    return not (
        isinstance(row, list)
        and len(row) == len(COLUMNS)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in row)
        and 0 <= row[-1] < len(paths())
    )


def _checked_rows(path, table, columns, malformed, name: str) -> list:
    """The rows of one table of the file, or :class:`StrategyCacheError` naming the file."""
    if not isinstance(table, dict) or table.get("columns") != list(columns):
        raise StrategyCacheError(
            f"{path}: the {name} table of measured conv choices has other "
            "columns than this version's; delete the file to measure again"
        )
    rows = table.get("rows")
    if not isinstance(rows, list) or any(malformed(row) for row in rows):
        raise StrategyCacheError(f"{path}: malformed rows of measured conv choices ({name})")
    return rows


def _tables(path, record) -> tuple:
    """(cpu table, triton table) of a file's record, of format 2 or 1."""
    if not isinstance(record, dict) or record.get("format") not in (FORMAT, FORMAT_1[0]):
        raise StrategyCacheError(f"{path}: not a file of measured conv choices")
    version = (record.get("format"), record.get("version"))
    if version == FORMAT_1:
        return record, {"columns": list(triton_choices.COLUMNS), "rows": []}
    if version != (FORMAT, FORMAT_VERSION):
        raise StrategyCacheError(
            f"{path}: measured conv choices of another version "
            f"({record.get('version')}); delete it to measure again"
        )
    return record.get("cpu"), record.get("triton")


def load_choices(path: Union[str, os.PathLike]) -> int:
    """Add the choices saved in ``path`` (both backends' tables) to this process's; returns how
    many.

    A file of another format or version, or with malformed rows, raises
    :class:`StrategyCacheError` naming it; nothing is loaded then."""
    _require_library()
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StrategyCacheError(f"{path}: not a file of measured conv choices ({err})") from None
    cpu_table, triton_table = _tables(path, record)
    rows = _checked_rows(path, cpu_table, COLUMNS, _cpu_row_malformed, "cpu")
    triton_rows = _checked_rows(
        path, triton_table, triton_choices.COLUMNS, triton_choices.malformed, "triton"
    )
    table = torch.tensor(rows, dtype=torch.int64).reshape(len(rows), len(COLUMNS))
    torch.ops.lorkd._cpu_load_measured_table(table)
    triton_choices.load_rows(triton_rows)
    return len(rows) + len(triton_rows)


def apply_environment() -> None:
    """``LORKD_STRATEGY_CACHE``, read when the backends load (the file needs the compiled
    library, which holds the cpu table); ``LORKD_MEASURE`` is a default of the settings."""
    if not library.loaded():
        return
    cache = os.environ.get(ENV_CACHE)
    if cache:
        if Path(cache).is_file():
            load_choices(cache)
        atexit.register(_save_at_exit, cache)


def _save_at_exit(path: str) -> None:
    try:
        if len(choices()) or triton_choices.rows():
            save_choices(path)
    except (OSError, RuntimeError):
        pass  # at exit nothing can report it; the next process measures again
