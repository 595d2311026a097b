"""The environment variables (lorkd_kernels/_env.py): one reading for all, and one list of them
that every reader in the code is on (the README's table from it: tests/test_generated_tables.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lorkd_kernels._env import BUILDS, VARIABLES, env_choice, env_flag


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("", None),
    ],
)
def test_every_switch_reads_the_same_words(value, expected, monkeypatch):
    monkeypatch.setenv("LORKD_TEST_SWITCH", value)
    assert env_flag("LORKD_TEST_SWITCH", default=None) is expected


def test_an_unknown_word_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("LORKD_TEST_SWITCH", "ture")
    with pytest.raises(ValueError, match=r"LORKD_TEST_SWITCH='ture': expected one of"):
        env_flag("LORKD_TEST_SWITCH")


def test_named_values_are_read_in_any_case_and_a_typo_names_the_variable():
    assert env_choice("LORKD_BUILD", BUILDS, environ={"LORKD_BUILD": " CPU "}) == "cpu"
    assert env_choice("LORKD_BUILD", BUILDS, default="auto", environ={}) == "auto"
    with pytest.raises(ValueError, match=r"LORKD_BUILD='gpu' is not one of auto, python, cpu"):
        env_choice("LORKD_BUILD", BUILDS, environ={"LORKD_BUILD": "gpu"})


REPO = Path(__file__).resolve().parents[1]
# Where the project's code reads its variables (tests set their own, e.g. LORKD_TEST_SWITCH).
CODE = [
    "setup.py",
    *map(str, REPO.glob("lorkd_kernels/**/*.py")),
    *map(str, REPO.glob("benchmarks/**/*.py")),
    *map(str, REPO.glob("python/**/*.py")),
]


def test_every_variable_the_code_names_is_listed():
    named = set()
    for path in CODE:
        named |= set(re.findall(r"\bLORKD_[A-Z_]+\b", (REPO / path).read_text()))
    assert named == {v.name for v in VARIABLES}


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_each_variable_is_read_where_the_list_says(variable):
    assert variable.name in (REPO / variable.read_by).read_text()
