"""The docs' tables that restate code, generated from it.

Each table lives between two markers in its markdown file, naming where the facts live (a
module, or the modules' docstrings). ``python -m lorkd_kernels._generated`` rewrites every one
(:data:`TABLES`); ``tests/test_generated_tables.py`` compares each committed copy with a fresh
one, so a stale table fails."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable, List, NamedTuple, Sequence, Tuple

END = "<!-- end of the generated table -->"


def start_marker(source: str) -> str:
    return f"<!-- generated from {source}: do not edit -->"


def block(source: str, rows: Sequence[str]) -> str:
    """The table ``rows`` between the markers naming ``source``, the file that owns the facts."""
    return "\n".join([start_marker(source), *rows, END])


def replace_block(text: str, source: str, rows: Sequence[str]) -> str:
    """``text`` with its table generated from ``source`` replaced by ``rows``."""
    pattern = re.compile(re.escape(start_marker(source)) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no table generated from {source} ({start_marker(source)} ... {END})")
    return pattern.sub(lambda _: block(source, rows), text)


_PACKAGE = Path(__file__).resolve().parent


def _inline_code(text: str) -> str:
    """reStructuredText roles and literals as markdown code."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def module_rows(folder: str, leave_out: Sequence[str] = ()) -> List[str]:
    """A table of the Python modules under ``folder`` of the package (``""`` for all of it), each
    with the first paragraph of its docstring; subfolders in ``leave_out`` have tables of their
    own."""
    rows = ["| module | holds |", "|---|---|"]
    base = _PACKAGE / folder
    for path in sorted(base.rglob("*.py")):
        relative = path.relative_to(base)
        if relative.parts[0] in leave_out:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        summary = " ".join(docstring.split("\n\n")[0].split())
        cell = _inline_code(summary).replace("|", "\\|")
        rows.append(f"| `{relative.as_posix()}` | {cell} |")
    return rows


class Table(NamedTuple):
    """A generated table: the markdown file (from the repository root), what its marker names as
    the source of the facts, and the function that returns its rows."""

    path: str
    source: str
    rows: Callable[[], List[str]]


def _registry_rows() -> List[str]:
    from .backends import registry

    return registry.table_rows()


def _env_rows() -> List[str]:
    from . import _env

    return _env.table_rows()


#: every generated table in the docs
TABLES: List[Table] = [
    Table("README.md", "lorkd_kernels/_env.py", _env_rows),
    Table("lorkd_kernels/backends/README.md", "lorkd_kernels/backends/registry.py", _registry_rows),
    Table(
        "docs/layout.md",
        "the docstrings of lorkd_kernels/",
        lambda: module_rows("", leave_out=("deploy", "pipeline")),
    ),
    Table(
        "docs/layout.md", "the docstrings of lorkd_kernels/deploy/", lambda: module_rows("deploy")
    ),
    Table(
        "docs/layout.md",
        "the docstrings of lorkd_kernels/pipeline/",
        lambda: module_rows("pipeline"),
    ),
]


def fresh(table: Table, root: Path) -> Tuple[str, str]:
    """(committed text, text with a freshly generated table) of ``table``'s markdown file."""
    text = (root / table.path).read_text(encoding="utf-8")
    return text, replace_block(text, table.source, table.rows())


if __name__ == "__main__":  # python -m lorkd_kernels._generated (from the repository root)
    for table in TABLES:
        committed, generated = fresh(table, Path.cwd())
        if generated != committed:
            (Path.cwd() / table.path).write_text(generated, encoding="utf-8")
            print(f"rewrote the table generated from {table.source} in {table.path}")
