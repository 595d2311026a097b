"""Collects the largest error seen per backend and dtype and prints it after the run."""

from __future__ import annotations

import collections

import pytest

MAX_ERRORS = collections.defaultdict(float)


@pytest.fixture
def record_error():
    def record(backend: str, dtype, what: str, err: float) -> None:
        key = (backend, str(dtype).replace("torch.", ""), what)
        MAX_ERRORS[key] = max(MAX_ERRORS[key], err)
    return record


def pytest_terminal_summary(terminalreporter):
    if not MAX_ERRORS:
        return
    terminalreporter.section("largest relative error vs float64 reference")
    for (backend, dtype, what), err in sorted(MAX_ERRORS.items()):
        terminalreporter.write_line(f"{backend:14s} {dtype:9s} {what:7s} {err:.2e}")
