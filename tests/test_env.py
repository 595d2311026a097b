"""On/off environment variables: one reading for all (lorkd_kernels/_env.py)."""

from __future__ import annotations

import pytest

from lorkd_kernels._env import env_flag
from lorkd_kernels.pipeline.cli.common import debugging


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("TRUE", True), (" yes ", True), ("On", True),
    ("0", False), ("false", False), ("NO", False), ("off", False), ("", None),
])
def test_every_switch_reads_the_same_words(value, expected, monkeypatch):
    monkeypatch.setenv("LORKD_TEST_SWITCH", value)
    assert env_flag("LORKD_TEST_SWITCH", default=None) is expected


def test_an_unknown_word_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LORKD_TEST_SWITCH", "ture")
    with pytest.raises(ValueError, match=r"LORKD_TEST_SWITCH='ture': expected one of"):
        env_flag("LORKD_TEST_SWITCH")


def test_lorkd_debug_false_keeps_debugging_off(monkeypatch):
    monkeypatch.setenv("LORKD_DEBUG", "false")
    assert not debugging()
    monkeypatch.setenv("LORKD_DEBUG", "true")
    assert debugging()
