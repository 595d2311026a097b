"""The report written into a markdown file (benchmarks/README.md) between two markers, so the
text around the results stays hand-written."""

from __future__ import annotations

README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between the results markers replaced by ``block``."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the file has no {README_START} ... {README_END} block")
    return text[: start + len(README_START)] + "\n" + block + text[end:]


def write_block(path: str, block: str) -> None:
    """Replace the results block of the file at ``path`` with ``block``."""
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(replace_block(text, block))
