"""benchmarks.report.readme_block: only the text between the markers changes."""

from __future__ import annotations

import pytest

from benchmarks.report.readme_block import README_END, README_START, replace_block, write_block


def test_write_block_replaces_only_between_markers_and_can_repeat(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\n{README_START}\nold\n{README_END}\n\nafter\n")
    write_block(str(path), "new 1\n")
    write_block(str(path), "new 2\n")
    assert path.read_text() == f"# Title\n\n{README_START}\nnew 2\n{README_END}\n\nafter\n"


def test_markers_in_the_wrong_order_are_an_error():
    with pytest.raises(ValueError, match="results:end"):
        replace_block(f"{README_END}\n{README_START}\n", "table")
