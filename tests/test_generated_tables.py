"""Every table in the docs that restates code is generated from it (``lorkd_kernels/_generated.py``)
and committed fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorkd_kernels._generated import TABLES, block, fresh, replace_block

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: f"{t.path}:{t.source}")
def test_each_committed_table_is_fresh(table):
    committed, generated = fresh(table, REPO)
    assert generated == committed, (
        f"the table generated from {table.source} in {table.path} is stale: "
        "run `python -m lorkd_kernels._generated`"
    )


def test_a_file_without_the_markers_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match="no table generated from x.py"):
        replace_block("# a heading\n", "x.py", ["| a |"])


def test_only_the_table_between_the_markers_is_replaced():
    text = "before\n" + block("x.py", ["| old |"]) + "\nafter\n"
    assert (
        replace_block(text, "x.py", ["| new |"])
        == "before\n" + block("x.py", ["| new |"]) + "\nafter\n"
    )
