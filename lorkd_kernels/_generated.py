"""Tables in the docs that restate code are generated from it: each lives between two markers in
its markdown file, naming the module that owns the facts. ``python -m lorkd_kernels._generated``
rewrites every one (:data:`TABLES`); ``tests/test_generated_tables.py`` compares each committed
copy with a fresh one, so a stale table fails."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

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


#: markdown file (from the repository root) -> (the module that owns its table, the function there
#: that returns the table's rows)
TABLES: Dict[str, Tuple[str, str]] = {
    "README.md": ("lorkd_kernels._env", "table_rows"),
    "lorkd_kernels/backends/README.md": ("lorkd_kernels.backends.registry", "table_rows"),
}


def fresh(path: str, root: Path) -> Tuple[str, str]:
    """(committed text, text with a freshly generated table) of markdown file ``path``."""
    module, function = TABLES[path]
    rows: Callable[[], List[str]] = getattr(importlib.import_module(module), function)
    source = module.replace(".", "/") + ".py"
    text = (root / path).read_text(encoding="utf-8")
    return text, replace_block(text, source, rows())


if __name__ == "__main__":  # python -m lorkd_kernels._generated (from the repository root)
    for name in TABLES:
        committed, generated = fresh(name, Path.cwd())
        if generated != committed:
            (Path.cwd() / name).write_text(generated, encoding="utf-8")
            print(f"rewrote the generated table of {name}")
