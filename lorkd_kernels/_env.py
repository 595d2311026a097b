"""Every ``LORKD_*`` environment variable, and the one reading of their values.

:data:`VARIABLES` lists them; the README's table is generated from it (``python -m
lorkd_kernels._generated`` rewrites it; ``tests/test_generated_tables.py`` fails when it is stale,
``tests/test_env.py`` when code reads a variable the list lacks).

On/off variables (:func:`env_flag`) take ``1``/``true``/``yes``/``on`` or
``0``/``false``/``no``/``off``; variables with named values (:func:`env_choice`) take one of their
names; both in any case, surrounding spaces ignored. Unset or empty gives the default; anything
else is a ValueError naming the variable, so ``LORKD_DEBUG=false`` never turns debugging on and a
typo never passes. Imports nothing but the standard library: ``setup.py`` loads this file by path,
before torch is importable.
"""

from __future__ import annotations

import os
from typing import List, Mapping, NamedTuple, Optional, Sequence

#: the values of LORKD_BUILD (setup.py)
BUILDS = ("auto", "python", "cpu", "cuda")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


class Variable(NamedTuple):
    name: str
    values: str  # how the README shows its values
    read_by: str  # the file that reads it, from the repository root
    effect: str


VARIABLES = (
    Variable(
        "LORKD_BUILD",
        "|".join(BUILDS),
        "setup.py",
        "what `pip install` builds: `auto` (default) the C++ kernels, and the CUDA kernels "
        "when torch has CUDA and a toolkit is found (`CUDA_HOME`, `CUDA_PATH`, the toolkit "
        "behind the `nvcc` on `PATH`, even a wrapper script, or `/usr/local/cuda*`; "
        "`TORCH_CUDA_ARCH_LIST` defaults to `8.0;9.0`, so a build machine needs no GPU); "
        "`python` nothing compiled (the `torch` backend serves every device); `cpu` the C++ "
        "kernels only; `cuda` the CUDA kernels too, or an error",
    ),
    Variable(
        "LORKD_SANITIZE",
        "address,undefined",
        "setup.py",
        "a test build of the C++ kernels with those sanitizers (see `.ci/run`)",
    ),
    Variable(
        "LORKD_BACKEND",
        "<name>",
        "lorkd_kernels/backends/registry.py",
        "force a backend where it runs (an error if it cannot)",
    ),
    Variable(
        "LORKD_LIBRARY",
        "path/to/_C.so",
        "lorkd_kernels/backends/library.py",
        "load that build of the kernels instead of the one in the package",
    ),
    Variable(
        "LORKD_MEASURE",
        "1",
        "lorkd_kernels/backends/_settings.py",
        "the default of the `measuring` setting: the `cpu` backend chooses each conv "
        "shape's algorithm by timing the candidates on this machine (first call of a "
        "shape), like `cudnn.benchmark`, and the `triton` backend (strategy `auto`) each "
        "conv shape's form, fused or split; off by default, so results stay "
        "bit-reproducible. The `cpu` backend's forms, measured or not, stay within a "
        'peak-memory cap (`memory_cap`, `docs/design.md`, "Memory cap")',
    ),
    Variable(
        "LORKD_STRATEGY_CACHE",
        "FILE",
        "lorkd_kernels/backends/measured.py",
        "measured choices (both backends') loaded from FILE at start and saved there at "
        "exit, so a machine measures once",
    ),
    Variable(
        "LORKD_TRITON_STRATEGY",
        "auto|fused|split",
        "lorkd_kernels/backends/_settings.py",
        "the default of the triton backend's conv form: `auto` (default): the form measured "
        "fastest for the shape with measuring on, else `split`; `fused`: the fused kernels; "
        "`split`: the base conv through cuDNN and Triton kernels for the expert branch only "
        "(`docs/design.md`)",
    ),
    Variable(
        "LORKD_DEBUG",
        "1",
        "lorkd_kernels/pipeline/cli/common.py",
        "the commands print the traceback of an error, not only its one line (as `--debug`)",
    ),
)


def _value(name: str, environ: Optional[Mapping[str, str]]) -> str:
    environ = os.environ if environ is None else environ
    return environ.get(name, "").strip().lower()


def env_flag(name: str, default: bool = False, environ: Optional[Mapping[str, str]] = None) -> bool:
    """The switch ``name`` in ``environ`` (the process's environment by default)."""
    value = _value(name, environ)
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"{name}={value!r}: expected one of {'/'.join(TRUE)} or {'/'.join(FALSE)}")


def env_choice(
    name: str,
    choices: Sequence[str],
    default: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[str]:
    """The value of ``name`` in ``environ``, one of ``choices`` (lower case)."""
    value = _value(name, environ)
    if not value:
        return default
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def table_rows() -> List[str]:
    """The README's table of the variables, as markdown rows."""
    rows = ["| variable | read by | effect |", "|---|---|---|"]
    for v in VARIABLES:
        values = v.values.replace("|", "\\|")
        rows.append(f"| `{v.name}={values}` | `{v.read_by}` | {v.effect} |")
    return rows
