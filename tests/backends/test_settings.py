"""The backends' settings (backends/_settings.py): one object, read from the environment at
start, changed inside blocks for the current context only, and mirrored into the compiled
library per thread."""

from __future__ import annotations

import asyncio
import threading

import pytest
import torch

import lorkd_kernels.ops  # noqa: F401  (loads the compiled library, whatever was imported first)
from lorkd_kernels import backends
from lorkd_kernels.backends import _settings

needs_library = pytest.mark.skipif(
    not backends.compiled_loaded(), reason="the compiled library's copy of the settings"
)


def library_copy():
    """(conv strategy name, measuring, host checks, memory cap) as the kernels on this thread
    read them."""
    code, measuring, checks, cap = torch.ops.lorkd._current_settings()
    return _settings.conv_strategies()[code], measuring, checks, cap


def as_library_reads(settings: backends.Settings):
    return (
        settings.conv_strategy,
        settings.measuring,
        settings.host_task_id_checks,
        settings.memory_cap,
    )


def test_the_environment_sets_the_triton_strategy_and_measuring():
    assert _settings.from_environment({}) == backends.Settings()
    read = _settings.from_environment({"LORKD_TRITON_STRATEGY": " Split ", "LORKD_MEASURE": "on"})
    assert (read.triton_strategy, read.measuring) == ("split", True)


@pytest.mark.parametrize(
    "environ, message",
    [
        (
            {"LORKD_TRITON_STRATEGY": "merged"},
            r"LORKD_TRITON_STRATEGY='merged' is not one of auto, fused, split",
        ),
        ({"LORKD_MEASURE": "maybe"}, r"LORKD_MEASURE='maybe': expected one of"),
    ],
)
def test_a_bad_environment_value_names_the_variable(environ, message):
    with pytest.raises(ValueError, match=message):
        _settings.from_environment(environ)


def test_blocks_nest_and_restore():
    outside = backends.current_settings()
    with backends.settings(conv_strategy="split", measuring=True) as first:
        assert backends.current_settings() == first
        assert (first.conv_strategy, first.measuring) == ("split", True)
        with backends.triton_strategy("fused"), backends.host_task_id_checks(False):
            inner = backends.current_settings()
            assert (inner.conv_strategy, inner.triton_strategy, inner.host_task_id_checks) == (
                "split",
                "fused",
                False,
            )
        assert backends.current_settings() == first
    assert backends.current_settings() == outside


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            dict(conv_strategy="fast"),
            r"conv_strategy='fast' is not a conv strategy; choose one of ",
        ),
        (
            dict(triton_strategy="cudnn"),
            r"triton_strategy='cudnn' is not a triton strategy; choose one of auto, fused, split",
        ),
        (dict(measuring="yes"), r"measuring is on or off \(True or False\), got 'yes'"),
        (dict(host_task_id_checks=1), r"host_task_id_checks is on or off"),
        (dict(memory_cap=0.5), r"memory cap must be a number >= 1"),
        (dict(memory_cap=float("nan")), r"memory cap must be a number >= 1"),
        (dict(memory_cap=True), r"memory cap must be a number >= 1"),
        (dict(speed="max"), r"unknown backend setting 'speed'; the settings are conv_strategy, "),
    ],
)
def test_a_bad_value_is_refused_before_the_block(changes, message):
    outside = backends.current_settings()
    with pytest.raises(ValueError, match=message):
        with backends.settings(**changes):
            pytest.fail("the block ran")
    assert backends.current_settings() == outside


@needs_library
def test_the_library_reads_what_the_block_sets_and_then_the_defaults():
    defaults = as_library_reads(_settings.defaults())
    assert library_copy() == defaults
    with backends.settings(
        conv_strategy="stacked", measuring=True, host_task_id_checks=False, memory_cap=3
    ):
        assert library_copy() == ("stacked", True, False, 3.0)
        with backends.conv_strategy("merged"):
            assert library_copy() == ("merged", True, False, 3.0)
        assert library_copy() == ("stacked", True, False, 3.0)
    assert library_copy() == defaults


@needs_library
def test_a_block_on_one_thread_does_not_reach_another():
    """Thread A holds a block while thread B reads, in Python and in the library, and the
    other way round; each sees its own settings, and B's defaults change with set_defaults."""
    inside, entered, read, done = (threading.Event() for _ in range(4))
    seen = {}

    def holder():
        with backends.settings(conv_strategy="split", memory_cap=0):
            seen["holder"] = (backends.current_settings(), library_copy())
            inside.set()
            read.wait(30)
            seen["holder after"] = (backends.current_settings(), library_copy())
        done.set()

    def reader():
        inside.wait(30)
        seen["reader"] = (backends.current_settings(), library_copy())
        previous = backends.set_memory_cap(4)
        try:
            seen["reader, defaults changed"] = (backends.current_settings(), library_copy())
        finally:
            backends.set_memory_cap(previous)
        entered.set()
        read.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    defaults = _settings.defaults()
    held = backends.Settings(**{**vars(defaults), "conv_strategy": "split", "memory_cap": 0.0})
    assert seen["holder"] == (held, as_library_reads(held))
    assert seen["holder after"] == seen["holder"]  # the other thread's defaults changed
    assert seen["reader"] == (defaults, as_library_reads(defaults))
    changed = backends.Settings(**{**vars(defaults), "memory_cap": 4.0})
    assert seen["reader, defaults changed"] == (changed, as_library_reads(changed))


def test_asyncio_tasks_keep_their_own_blocks():
    async def task(strategy: str, ready: asyncio.Event, other: asyncio.Event) -> str:
        with backends.conv_strategy(strategy):
            ready.set()
            await other.wait()  # the other task is inside its own block now
            return backends.current_settings().conv_strategy

    async def both():
        a, b = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(task("split", a, b), task("merged", b, a))

    assert asyncio.run(both()) == ["split", "merged"]


@needs_library
def test_the_conv_strategies_are_the_library_s_own_list():
    names = _settings.conv_strategies()
    assert names == tuple(torch.ops.lorkd._conv_strategy_names())
    for name in names:
        with backends.conv_strategy(name):
            assert library_copy()[0] == name
