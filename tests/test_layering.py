"""The house's one rule of direction: the library never imports the pipeline (the LoRKD recipe
built on it), and the library's own tests run on their own toy models. Only the command modules
(``python -m lorkd_kernels.<command>``) and the ``models`` alias point into the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lorkd_kernels"
#: modules that exist to expose the pipeline under the package's top level
ENTRY_POINTS = {"train", "evaluate", "compare", "costs", "transfer", "models"}


def _imported_modules(path: Path, package: str):
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                yield f"{base}.{node.module}" if node.module else base
            else:
                yield node.module or ""


def _library_files():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "pipeline" or (
            len(relative.parts) == 1 and relative.stem in ENTRY_POINTS
        ):
            continue
        yield path


def _package_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")


@pytest.mark.parametrize("path", sorted(_library_files()), ids=lambda p: str(p.relative_to(REPO)))
def test_the_library_never_imports_the_pipeline(path):
    imported = list(_imported_modules(path, _package_of(path)))
    assert not [
        m for m in imported if m.startswith("lorkd_kernels.pipeline") or m == "lorkd_kernels.models"
    ], imported


def _library_tests():
    for path in (REPO / "tests").rglob("*.py"):
        parts = path.relative_to(REPO / "tests").parts
        if parts[0] not in ("pipeline", "gpu", "benchmarks"):
            yield path


@pytest.mark.parametrize("path", sorted(_library_tests()), ids=lambda p: str(p.relative_to(REPO)))
def test_the_library_tests_use_their_own_models(path):
    imported = list(_imported_modules(path, _package_of(path)))
    assert not [
        m for m in imported if m.startswith("lorkd_kernels.pipeline") or m == "lorkd_kernels.models"
    ], imported
