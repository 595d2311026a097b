"""The CPU conv algorithm chosen by measurement on this machine, as ``cudnn.benchmark`` does.

The ``cpu`` backend has three exact forms of an EKS convolution (``csrc/cpu/eks_conv2d.cpp``):
split, merged per task and merged per sample. By default a cost model picks one per call
(``csrc/cpu/strategy.cpp``), tuned on one CPU; which form wins differs by machine. With measuring
on, the first call of each key (shapes, dtype, forward or backward with its gradient mask, the
task mix: number of task runs and whether the batch is sorted, memory format) times every
candidate on that call's inputs (one warm-up and two timed runs each) and later calls reuse the
fastest. The choices can be saved to a file and loaded in later processes, so a machine pays for
the measurements once.

Off by default: with measuring on, which form runs depends on timings, so the rounding of the
results may differ between processes (every form is exact up to float rounding). Turn it on with
:func:`measuring`, :func:`set_measuring`, or ``LORKD_MEASURE=1``; with ``LORKD_STRATEGY_CACHE=FILE``
the choices are loaded from FILE when the backends load and saved back to it at exit.
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
from . import library

ENV_MEASURE = "LORKD_MEASURE"
ENV_CACHE = "LORKD_STRATEGY_CACHE"
FORMAT = "lorkd-cpu-conv-choices"
FORMAT_VERSION = 1
#: what each column of a saved row holds (the table's key, then the chosen form)
COLUMNS = ("direction", "dtype", "batch", "in_channels", "height", "width", "out_channels",
           "kernel_h", "kernel_w", "stride_h", "stride_w", "padding_h", "padding_w",
           "dilation_h", "dilation_w", "groups", "task_runs", "sorted", "channels_last", "path")
#: the forms, by the code in the ``path`` column
PATHS = ("split", "merged per task", "merged per sample")


class StrategyCacheError(ValueError):
    """A file of measured choices that cannot be read; the message names it."""


def _require_library() -> None:
    if not library.loaded():
        raise RuntimeError("measured conv choices need the compiled cpu backend (lorkd_kernels._C),"
                           " which is not loaded")


def set_measuring(enabled: bool) -> bool:
    """Turn measuring on or off for later calls in this process; returns the previous setting.
    It applies while the conv strategy is ``auto`` (see :func:`conv_strategy`)."""
    _require_library()
    return bool(torch.ops.lorkd._set_cpu_conv_measuring(bool(enabled)))


@contextlib.contextmanager
def measuring(enabled: bool = True) -> Iterator[None]:
    """Measuring on (or off) inside the block."""
    previous = set_measuring(enabled)
    try:
        yield
    finally:
        set_measuring(previous)


def choices() -> torch.Tensor:
    """The measured choices so far: one int64 row per key, columns :data:`COLUMNS`."""
    _require_library()
    return torch.ops.lorkd._cpu_measured_table()


def clear_choices() -> None:
    _require_library()
    torch.ops.lorkd._cpu_clear_measured_table()


def save_choices(path: Union[str, os.PathLike]) -> int:
    """Write the measured choices to ``path`` (JSON, atomically); returns how many."""
    rows = choices().tolist()
    record = {"format": FORMAT, "version": FORMAT_VERSION, "torch": torch.__version__,
              "machine": platform.machine(), "processor": platform.processor(),
              "columns": list(COLUMNS), "rows": rows}
    write_bytes_atomically(path, (json.dumps(record) + "\n").encode())
    return len(rows)


def load_choices(path: Union[str, os.PathLike]) -> int:
    """Add the choices saved in ``path`` to this process's table; returns how many.

    A file of another format or version, or with malformed rows, raises
    :class:`StrategyCacheError` naming it; nothing is loaded then."""
    _require_library()
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StrategyCacheError(f"{path}: not a file of measured conv choices ({err})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise StrategyCacheError(f"{path}: not a file of measured conv choices")
    if record.get("version") != FORMAT_VERSION or record.get("columns") != list(COLUMNS):
        raise StrategyCacheError(f"{path}: measured conv choices of another version "
                                 f"({record.get('version')}); delete it to measure again")
    rows = record.get("rows")
    if not isinstance(rows, list) or not all(
            isinstance(row, list) and len(row) == len(COLUMNS)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in row)
            and 0 <= row[-1] < len(PATHS) for row in rows):
        raise StrategyCacheError(f"{path}: malformed rows of measured conv choices")
    table = torch.tensor(rows, dtype=torch.int64).reshape(len(rows), len(COLUMNS))
    torch.ops.lorkd._cpu_load_measured_table(table)
    return len(rows)


def apply_environment() -> None:
    """``LORKD_MEASURE`` and ``LORKD_STRATEGY_CACHE``, read when the backends load."""
    if not library.loaded():
        return
    if os.environ.get(ENV_MEASURE, "").lower() in ("1", "on", "true", "yes"):
        set_measuring(True)
    cache = os.environ.get(ENV_CACHE)
    if cache:
        if Path(cache).is_file():
            load_choices(cache)
        atexit.register(_save_at_exit, cache)


def _save_at_exit(path: str) -> None:
    try:
        if len(choices()):
            save_choices(path)
    except (OSError, RuntimeError):
        pass   # at exit nothing can report it; the next process measures again
