"""Every backend of the lorkd ops in one table: where it runs, how it loads, what it needs.

``lorkd_kernels.ops`` (which backend serves the public ops), the tests (which backends to compare
with the reference) and the benchmarks (which providers to time) all read this table; adding a
backend is one entry here and one module that declares it (``define.py``; see
``backends/README.md``).

``LORKD_BACKEND`` is read here and nowhere else (:func:`forced_backend`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Dict, List, Optional, Set, Tuple

from .._env import env_choice
from .._schemas import COMPILED_BACKENDS
from . import library

#: a backend that runs on tensors of every device type
ANY_DEVICE = "any"
#: the backend every device falls back to; it needs nothing but torch
FALLBACK = "torch"


class BackendUnavailableError(RuntimeError):
    """A backend that was asked for (forced, routed to or called explicitly) cannot run."""


@dataclass(frozen=True)
class Backend:
    """One implementation of the four lorkd ops."""

    name: str
    #: the module (dotted path) with ``conv2d_forward``, ``conv2d_backward``, ``linear_forward``
    #: and ``linear_backward``, which declares the backend when imported (``define.py``)
    module: str
    #: device types whose tensors it runs (``ANY_DEVICE`` for all)
    devices: Tuple[str, ...]
    #: the Python package it needs beyond torch, if any
    package: Optional[str]
    #: what to install or build when it is missing, for error messages
    needs: str
    #: one line for docs and listings
    summary: str
    #: what else it needs in this process, checked after the package and the compiled library:
    #: called with the device type (or None), returns None when met, else the reason as a sentence
    requirement: Optional[Callable[[Optional[str]], Optional[str]]] = None

    @property
    def compiled(self) -> bool:
        """Its kernels live in the compiled library ``lorkd_kernels._C``, which defines its
        private ops and their autograd in C++; otherwise they are Python, and its module
        defines them."""
        return self.name in COMPILED_BACKENDS

    def runs_on(self, device_type: str) -> bool:
        return ANY_DEVICE in self.devices or device_type in self.devices

    def op_name(self, op: str) -> str:
        """Name of this backend's private op for ``op`` (``eks_conv2d`` ->
        ``_cpu_eks_conv2d``), callable as ``torch.ops.lorkd.<name>``."""
        return f"_{self.name}_{op}"


def triton_interpreting() -> bool:
    """Whether triton runs kernels on the CPU through its interpreter (``TRITON_INTERPRET=1``,
    triton's own switch, which must be set before triton decorates any kernel)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def _cuda_kernels_built(device_type: Optional[str]) -> Optional[str]:
    if library.has_kernel("_cuda_eks_conv2d", "CUDA"):
        return None
    return f"lorkd_kernels._C holds no CUDA kernels; the cuda backend needs {_CUDA_NEEDS}"


def _triton_runs(device_type: Optional[str]) -> Optional[str]:
    if device_type == "cpu" and not triton_interpreting():
        return (
            "the triton backend runs CPU tensors only under the Triton interpreter: "
            "set TRITON_INTERPRET=1 before importing lorkd_kernels"
        )
    return None


_CUDA_NEEDS = (
    "a CUDA build of the compiled library: rebuild against a CUDA build of torch "
    "with a CUDA toolkit (LORKD_BUILD=cuda, CUDA_HOME), or use cuda_emu to run "
    "those kernels on CPU tensors"
)

BACKENDS: Dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "cpu",
            f"{__package__}.cpu",
            ("cpu",),
            package=None,
            needs="the compiled library: `pip install --no-build-isolation -e .` without "
            "LORKD_BUILD=python",
            summary="C++ kernels (csrc/cpu), one call per forward and per backward",
        ),
        Backend(
            "cuda",
            f"{__package__}.cuda",
            ("cuda",),
            package=None,
            needs=_CUDA_NEEDS,
            summary="CUDA C++ kernels (csrc/kernels, launched by csrc/cuda)",
            requirement=_cuda_kernels_built,
        ),
        Backend(
            "cuda_emu",
            f"{__package__}.cuda_emu",
            ("cpu",),
            package=None,
            needs="the compiled library: `pip install --no-build-isolation -e .`",
            summary="the CUDA C++ kernels run on CPU tensors by an emulator (csrc/emu; tests)",
        ),
        Backend(
            "triton",
            f"{__package__}.triton",
            ("cuda", "cpu"),
            package="triton",
            needs="the triton package (`pip install triton`); CPU tensors also need "
            "TRITON_INTERPRET=1 set before lorkd_kernels is imported",
            summary="fused Triton kernels (backends/triton) and, for convs, the split form "
            "(cuDNN's conv + Triton branch kernels); CPU tensors under the interpreter",
            requirement=_triton_runs,
        ),
        Backend(
            "torch",
            f"{__package__}.torch_ops",
            (ANY_DEVICE,),
            package=None,
            needs="nothing beyond torch",
            summary="ATen calls, any device (the fallback)",
        ),
        Backend(
            "reference",
            f"{__package__}.reference_impl",
            (ANY_DEVICE,),
            package=None,
            needs="nothing beyond torch",
            summary="the float64 oracle of lorkd_kernels/reference.py as a backend (slow)",
        ),
    )
}

#: the backends tried, in order, for the public ops on each device type when none is forced;
#: every other device type gets the fallback
DEVICE_DEFAULTS: Dict[str, Tuple[str, ...]] = {
    "cpu": ("cpu", FALLBACK),
    "cuda": ("triton", "cuda", FALLBACK),
}


_ADDED: Set[str] = set()


def add(backend: Backend) -> None:
    """Add a backend to the table (one written outside this package, e.g. the tests' toy
    backend); it can then be used, called explicitly and listed like the built-in ones. It
    must not be compiled, and its name must be new."""
    if backend.name in BACKENDS:
        raise ValueError(f"a backend named {backend.name!r} already exists")
    if backend.compiled:
        raise ValueError(f"{backend.name!r} names a backend of the compiled library")
    BACKENDS[backend.name] = backend
    _ADDED.add(backend.name)


def remove(name: str) -> None:
    """Remove a backend added with :func:`add` (its private ops stay defined in this process)."""
    if name not in _ADDED:
        raise ValueError(f"{name!r} was not added with registry.add")
    _ADDED.discard(name)
    del BACKENDS[name]


def get(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendUnavailableError(
            f"{name!r} is not a lorkd backend; choose one of {', '.join(BACKENDS)}"
        ) from None


def forced_backend() -> Optional[str]:
    """The backend named by ``LORKD_BACKEND`` (checked against the table), or None."""
    try:
        return env_choice("LORKD_BACKEND", tuple(BACKENDS))
    except ValueError as err:
        raise BackendUnavailableError(f"{err}: it is not a backend") from None


def package_installed(backend: Backend) -> bool:
    return backend.package is None or importlib.util.find_spec(backend.package) is not None


def module(name: str) -> ModuleType:
    """The Python module of backend ``name`` (imports it, and its package, on first use)."""
    backend = get(name)
    if not package_installed(backend):
        raise BackendUnavailableError(
            f"the {name} backend is not installed: it needs {backend.needs}"
        )
    try:
        return importlib.import_module(backend.module)
    except ImportError as err:
        raise BackendUnavailableError(f"the {name} backend did not import: {err}") from err


def table_rows() -> List[str]:
    """``backends/README.md``'s table of the backends, as markdown rows."""
    rows = ["| backend | module | runs on | kernels | default on |", "|---|---|---|---|---|"]
    for backend in BACKENDS.values():
        if backend.name in _ADDED:
            continue
        devices = "any device" if ANY_DEVICE in backend.devices else ", ".join(backend.devices)
        default_on = [device for device, names in DEVICE_DEFAULTS.items() if backend.name in names]
        if backend.name == FALLBACK:
            default_on.append("every other device")
        rows.append(
            f"| `{backend.name}` | `{backend.module}` | {devices} | {backend.summary} | "
            f"{', '.join(default_on) or '–'} |"
        )
    return rows
