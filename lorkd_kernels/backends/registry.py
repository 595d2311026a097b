"""Every backend of the lorkd ops in one table: where it runs, how it loads, what it needs.

``lorkd_kernels.ops`` (which backend serves the public ops), the tests (which backends to compare
with the reference) and the benchmarks (which providers to time) all read this table; adding a
backend is one entry here and one module (see ``backends/README.md``).

``LORKD_BACKEND`` is read here and nowhere else (:func:`forced_backend`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Dict, Optional, Tuple

from .._env import env_choice

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
    #: the module under ``lorkd_kernels.backends`` with ``conv2d_forward``, ``conv2d_backward``,
    #: ``linear_forward`` and ``linear_backward``
    module: str
    #: device types whose tensors it runs (``ANY_DEVICE`` for all)
    devices: Tuple[str, ...]
    #: its kernels live in the compiled library ``lorkd_kernels._C`` (private ops defined in C++,
    #: autograd in C++); otherwise they are Python, and ``ops.py`` defines its private ops
    compiled: bool
    #: the Python package it needs beyond torch, if any
    package: Optional[str]
    #: what to install or build when it is missing, for error messages
    needs: str
    #: one line for docs and listings
    summary: str

    def runs_on(self, device_type: str) -> bool:
        return ANY_DEVICE in self.devices or device_type in self.devices

    def op_name(self, op: str) -> str:
        """Name of this backend's private op for ``op`` (``eks_conv2d`` ->
        ``_cpu_eks_conv2d``), callable as ``torch.ops.lorkd.<name>``."""
        return f"_{self.name}_{op}"


BACKENDS: Dict[str, Backend] = {b.name: b for b in (
    Backend("cpu", "cpu", ("cpu",), compiled=True, package=None,
            needs="the compiled library: `pip install --no-build-isolation -e .` without "
                  "LORKD_BUILD=python",
            summary="C++ kernels (csrc/cpu), one call per forward and per backward"),
    Backend("cuda", "cuda", ("cuda",), compiled=True, package=None,
            needs="a CUDA build of the compiled library: rebuild against a CUDA build of torch "
                  "with a CUDA toolkit (LORKD_BUILD=cuda, CUDA_HOME), or use cuda_emu to run "
                  "those kernels on CPU tensors",
            summary="CUDA C++ kernels (csrc/kernels, launched by csrc/cuda)"),
    Backend("cuda_emu", "cuda_emu", ("cpu",), compiled=True, package=None,
            needs="the compiled library: `pip install --no-build-isolation -e .`",
            summary="the CUDA C++ kernels run on CPU tensors by an emulator (csrc/emu; tests)"),
    Backend("triton", "triton", ("cuda", "cpu"), compiled=False, package="triton",
            needs="the triton package (`pip install triton`); CPU tensors also need "
                  "TRITON_INTERPRET=1 set before lorkd_kernels is imported",
            summary="fused Triton kernels (backends/triton); CPU tensors under the interpreter"),
    Backend("torch", "torch_ops", (ANY_DEVICE,), compiled=False, package=None,
            needs="nothing beyond torch",
            summary="ATen calls, any device (the fallback)"),
    Backend("reference", "reference_impl", (ANY_DEVICE,), compiled=False, package=None,
            needs="nothing beyond torch",
            summary="the float64 oracle of lorkd_kernels/reference.py as a backend (slow)"),
)}

#: the backends tried, in order, for the public ops on each device type when none is forced;
#: every other device type gets the fallback
DEVICE_DEFAULTS: Dict[str, Tuple[str, ...]] = {
    "cpu": ("cpu", FALLBACK),
    "cuda": ("triton", "cuda", FALLBACK),
}


def get(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendUnavailableError(
            f"{name!r} is not a lorkd backend; choose one of {', '.join(BACKENDS)}") from None


def forced_backend() -> Optional[str]:
    """The backend named by ``LORKD_BACKEND`` (checked against the table), or None."""
    try:
        return env_choice("LORKD_BACKEND", tuple(BACKENDS))
    except ValueError as err:
        raise BackendUnavailableError(f"{err}: it is not a backend") from None


def triton_interpreting() -> bool:
    """Whether triton runs kernels on the CPU through its interpreter (``TRITON_INTERPRET=1``,
    triton's own switch, which must be set before triton decorates any kernel)."""
    return os.environ.get("TRITON_INTERPRET") == "1"


def package_installed(backend: Backend) -> bool:
    return backend.package is None or importlib.util.find_spec(backend.package) is not None


def module(name: str) -> ModuleType:
    """The Python module of backend ``name`` (imports it, and its package, on first use)."""
    backend = get(name)
    if not package_installed(backend):
        raise BackendUnavailableError(
            f"the {name} backend is not installed: it needs {backend.needs}")
    try:
        return importlib.import_module(f".{backend.module}", __package__)
    except ImportError as err:
        raise BackendUnavailableError(f"the {name} backend did not import: {err}") from err
