"""The backends' settings: one object, context-local, mirrored into the compiled library in one
place.

* ``conv_strategy``: the ``cpu`` and ``torch`` backends' EKS conv algorithm, ``auto`` (the cost
  model, or measured) or a forced ``merged``, ``split``, ``stacked``; default ``auto``;
* ``triton_strategy``: the ``triton`` backend's conv form, ``auto`` (measured, else ``split``),
  ``fused`` or ``split``; default ``LORKD_TRITON_STRATEGY``, else ``auto``;
* ``measuring``: ``auto`` strategies time their candidates on the first call of each shape
  (``measured.py``); default ``LORKD_MEASURE``, else off;
* ``host_task_id_checks``: the GPU kernels' host range check of task ids (``host_checks.py``);
  default on;
* ``memory_cap``: the ``cpu`` backend's forms stay within this many times the plain layer's peak
  memory (0: no cap); default 2.

:func:`settings` changes fields inside a ``with`` block for the current context only (a
:class:`contextvars.ContextVar`: other threads and asyncio tasks keep theirs); :func:`set_defaults`
changes the process-wide defaults, which every context outside such a block reads. The public
switches (``backends.conv_strategy``, ``triton_strategy``, ``measuring``,
``host_task_id_checks``, ``memory_cap``) are blocks of this one object.

The compiled library reads its copy on every call (``csrc/common/settings.h``), set here and
nowhere else (:func:`_mirror`): the defaults, and per thread the settings of the block entered on
that thread last. So asyncio tasks that interleave inside different blocks on one thread share
the C++ copy of whichever entered last, and autograd's CUDA threads, which run a backward of CUDA
tensors, see the defaults (a CPU backward runs on the calling thread).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
from typing import Any, Iterator, Mapping, Optional, Tuple

import torch

from .._env import env_choice, env_flag
from . import library

TRITON_STRATEGIES = ("auto", "fused", "split")
ENV_TRITON_STRATEGY = "LORKD_TRITON_STRATEGY"
ENV_MEASURE = "LORKD_MEASURE"


@dataclasses.dataclass(frozen=True)
class Settings:
    conv_strategy: str = "auto"
    triton_strategy: str = "auto"
    measuring: bool = False
    host_task_id_checks: bool = True
    memory_cap: float = 2.0


def conv_strategies() -> Tuple[str, ...]:
    """The conv strategies, in the compiled library's code order (it owns the list); without it,
    the ``torch`` backend's own (``stacked`` is a ``cpu`` form)."""
    if library.loaded():
        return tuple(torch.ops.lorkd._conv_strategy_names())
    from . import torch_ops  # it reads these settings: imported late, not in a cycle

    return torch_ops.STRATEGIES


def _validated(settings: Settings) -> Settings:
    """``settings``, or a ValueError naming the first field that is not a valid value."""
    strategies = conv_strategies()
    if settings.conv_strategy not in strategies:
        raise ValueError(
            f"conv_strategy={settings.conv_strategy!r} is not a conv strategy; "
            f"choose one of {', '.join(strategies)}"
        )
    if settings.triton_strategy not in TRITON_STRATEGIES:
        raise ValueError(
            f"triton_strategy={settings.triton_strategy!r} is not a triton "
            f"strategy; choose one of {', '.join(TRITON_STRATEGIES)}"
        )
    for name in ("measuring", "host_task_id_checks"):
        if not isinstance(getattr(settings, name), bool):
            raise ValueError(
                f"{name} is on or off (True or False), got {getattr(settings, name)!r}"
            )
    cap = settings.memory_cap
    if (
        isinstance(cap, bool)
        or not isinstance(cap, (int, float))
        or math.isnan(cap)
        or not (cap == 0 or cap >= 1)
    ):
        raise ValueError(
            f"memory cap must be a number >= 1 (a ratio to the plain layer's peak) "
            f"or 0 (no cap), got {cap!r}"
        )
    return dataclasses.replace(settings, memory_cap=float(cap))


def _changed(settings: Settings, changes: Mapping[str, Any]) -> Settings:
    fields = {field.name for field in dataclasses.fields(Settings)}
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ValueError(
            f"unknown backend setting {unknown[0]!r}; the settings are {', '.join(sorted(fields))}"
        )
    return _validated(dataclasses.replace(settings, **changes))


def from_environment(environ: Mapping[str, str] = os.environ) -> Settings:
    """The defaults a process starts with: ``LORKD_TRITON_STRATEGY`` and ``LORKD_MEASURE``."""
    triton = env_choice(ENV_TRITON_STRATEGY, TRITON_STRATEGIES, environ=environ) or "auto"
    return Settings(triton_strategy=triton, measuring=env_flag(ENV_MEASURE, environ=environ))


_defaults = from_environment()
_block: contextvars.ContextVar[Optional[Settings]] = contextvars.ContextVar(
    "lorkd_backend_settings", default=None
)


def current() -> Settings:
    """The settings in force in this context: its innermost block's, else the defaults."""
    block = _block.get()
    return _defaults if block is None else block


def defaults() -> Settings:
    return _defaults


def _mirror(settings: Optional[Settings], this_thread: bool) -> None:
    """The one place the compiled library's copy is set: this thread's block (None: the thread
    has none and reads the defaults), or the defaults."""
    if not library.loaded():
        return
    if settings is None:
        torch.ops.lorkd._clear_thread_settings()
        return
    torch.ops.lorkd._set_settings(
        conv_strategies().index(settings.conv_strategy),
        settings.measuring,
        settings.host_task_id_checks,
        settings.memory_cap,
        this_thread,
    )


def mirror_all() -> None:
    """Set the compiled library's copy from scratch (when it has just loaded)."""
    _mirror(_defaults, this_thread=False)
    _mirror(_block.get(), this_thread=True)


@contextlib.contextmanager
def settings(**changes) -> Iterator[Settings]:
    """Inside the block, the current settings with ``changes`` (fields of :class:`Settings`),
    in this context only; yields them. An invalid value is a ValueError naming it."""
    changed = _changed(current(), changes)
    token = _block.set(changed)
    _mirror(changed, this_thread=True)
    try:
        yield changed
    finally:
        _block.reset(token)
        _mirror(_block.get(), this_thread=True)


def set_defaults(**changes) -> Settings:
    """Change the process-wide defaults (fields of :class:`Settings`); returns the previous
    defaults. Contexts inside a :func:`settings` block keep the block's values."""
    global _defaults
    previous, _defaults = _defaults, _changed(_defaults, changes)
    _mirror(_defaults, this_thread=False)
    return previous
