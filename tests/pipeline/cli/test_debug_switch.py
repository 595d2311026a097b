"""LORKD_DEBUG, read through the one switch reader (lorkd_kernels/_env.py)."""

from __future__ import annotations

from lorkd_kernels.pipeline.cli.common import debugging


def test_lorkd_debug_false_keeps_debugging_off(monkeypatch):
    monkeypatch.setenv("LORKD_DEBUG", "false")
    assert not debugging()
    monkeypatch.setenv("LORKD_DEBUG", "true")
    assert debugging()
