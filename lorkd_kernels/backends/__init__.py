"""Which backend serves the public ``lorkd`` ops on each device, and how to call any of them.

The backends themselves are listed in :mod:`.registry` (one table; ``backends/README.md`` says how
to add one). This module applies it:

* :func:`load` (run once by ``lorkd_kernels.ops``) loads the compiled library when present and
  routes each device's public ops to ``LORKD_BACKEND`` where that backend runs, else to the first
  available of the device's defaults (CPU: ``cpu``, then ``torch``; CUDA: ``triton``, ``cuda``,
  then ``torch``; other devices: ``torch``). A forced backend that cannot load is an error; a
  missing compiled library, when nothing is forced, falls back to ``torch`` with a warning.
* :func:`use` re-routes a device inside a ``with`` block, so tests and benchmarks run the public
  ops (and the layers) through every backend in one process;
* :func:`explicit` calls one backend's private ops directly (with autograd), whatever the routes;
* :func:`measuring` lets the ``cpu`` backend choose each conv shape's algorithm, and the
  ``triton`` backend each conv shape's form, by timing the candidates on this machine
  (``measured.py``, ``triton_choices.py``);
* :func:`memory_cap` bounds the ``cpu`` backend's conv forms, chosen by its cost model or by
  measurement, to an estimated peak memory of at most that many times the plain layer's
  (default 2; ``csrc/cpu/strategy.h``);
* :func:`triton_strategy` chooses the form of the ``triton`` backend's convs, ``auto`` (the
  default: measured, else ``split``), ``fused`` or ``split``;
* :func:`host_task_id_checks` turns the host's task-id range check of the GPU kernels off or on
  (``host_checks.py``).

Those five switches, and :func:`conv_strategy`, are fields of one settings object
(``_settings.py``): :func:`settings` sets any of them inside a block, in the current context only;
:func:`current_settings` reads them.
"""

from __future__ import annotations

import contextlib
import warnings
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch

from . import _settings, define, library, measured, registry
from .host_checks import host_task_id_checks
from .measured import measuring
from .registry import BACKENDS, FALLBACK, BackendUnavailableError, forced_backend
from ._settings import Settings, current as current_settings, settings

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "Settings",
    "active_backend",
    "available_backends",
    "availability",
    "compiled_loaded",
    "conv_strategy",
    "current_settings",
    "explicit",
    "forced_backend",
    "host_task_id_checks",
    "load",
    "measuring",
    "memory_cap",
    "set_memory_cap",
    "settings",
    "triton_strategy",
    "use",
]

#: device types the compiled library routes itself (other devices use the Python router)
ROUTED_IN_CPP = ("cpu", "cuda")

_routes: Dict[str, str] = {}


def compiled_loaded() -> bool:
    """Whether the compiled library (``_C``) is loaded: it holds the ``cpu`` and ``cuda_emu``
    kernels (and ``cuda`` in a CUDA build), and its C++ autograd serves the public ops."""
    return library.loaded()


def has_cuda_kernels() -> bool:
    """Whether the loaded compiled library holds the CUDA C++ kernels."""
    return availability("cuda") is None


def availability(name: str, device_type: Optional[str] = None) -> Optional[str]:
    """None when backend ``name`` can run (on ``device_type``, if given) in this process, else
    the reason it cannot, as a sentence."""
    backend = registry.get(name)
    if device_type is not None and not backend.runs_on(device_type):
        return f"the {name} backend does not run on {device_type} tensors"
    if not registry.package_installed(backend):
        return f"the {name} backend is not installed: it needs {backend.needs}"
    if backend.compiled and not library.loaded():
        return f"the {name} backend is not installed: it needs {backend.needs}"
    if backend.requirement is not None:
        return backend.requirement(device_type)
    return None


def available_backends(device_type: str) -> List[str]:
    """Every backend that can run on ``device_type`` tensors in this process, in table order."""
    return [name for name in BACKENDS if availability(name, device_type) is None]


def _default_route(device_type: str) -> str:
    for name in registry.DEVICE_DEFAULTS.get(device_type, (FALLBACK,)):
        if availability(name, device_type) is None:
            return name
    return FALLBACK


def _set_route(device_type: str, name: str) -> str:
    """Route ``device_type``'s public ops to ``name``; returns the previous backend."""
    previous = _routes.get(device_type, active_backend(device_type))
    if not BACKENDS[name].compiled and (device_type != "cuda" or torch.cuda.is_available()):
        # A Python backend's private ops exist once its module is imported (it declares
        # itself). On a machine without a GPU no CUDA call can happen, so triton is not imported
        # just for the route.
        registry.module(name)
    _routes[device_type] = name
    if library.loaded() and device_type in ROUTED_IN_CPP:
        torch.ops.lorkd._set_route(device_type, name)
    return previous


def load() -> None:
    """Load the compiled library and route every device (see the module docstring)."""
    forced = forced_backend()
    try:
        library.load()
    except (OSError, RuntimeError) as err:  # FileNotFoundError is an OSError
        if forced is not None and BACKENDS[forced].compiled:
            raise BackendUnavailableError(
                f"LORKD_BACKEND={forced} but the compiled kernels did not load: {err}"
            ) from err
        if forced is None:
            warnings.warn(
                f"lorkd_kernels: compiled CPU kernels unavailable ({err}); "
                "using the 'torch' backend",
                RuntimeWarning,
                stacklevel=3,
            )
    if forced is not None:
        reason = availability(forced)
        if reason is not None:
            raise BackendUnavailableError(f"LORKD_BACKEND={forced}: {reason}")
    for device_type in ROUTED_IN_CPP:
        if forced is not None and BACKENDS[forced].runs_on(device_type):
            _set_route(device_type, forced)
        else:
            _set_route(device_type, _default_route(device_type))
    _declare_light_backends()
    _settings.mirror_all()
    measured.apply_environment()


def _declare_light_backends() -> None:
    """Import the modules of the backends that need no package beyond torch (each declares its
    private ops, fakes and autograd), and of the compiled ones when the library loaded: their
    ops then exist from import on. The C++ autograd's double backward calls the torch
    backend's. A backend with a package (triton) is imported when first used."""
    for name, backend in BACKENDS.items():
        if backend.package is None and (library.loaded() or not backend.compiled):
            registry.module(name)


def active_backend(device_type: str = "cpu") -> str:
    """Name of the backend that ``torch.ops.lorkd.*`` runs on tensors of ``device_type``."""
    if not _routes:
        # Asked before the ops were defined: define them now (which loads and routes), so the
        # answer is the backend the layers will run on, not the fallback.
        from .. import ops  # noqa: F401
    if device_type in _routes:
        return _routes[device_type]
    forced = forced_backend()
    if forced is not None and BACKENDS[forced].runs_on(device_type):
        return forced
    return FALLBACK


def python_functions_for(device_type: str) -> Dict[str, Callable[..., Any]]:
    """The validated functions, by op name, that the Python router of the public ops calls for
    ``device_type`` (used where the compiled library does not route: it is absent, or the
    device is neither CPU nor CUDA; so the routed backend is a Python one)."""
    name = active_backend(device_type)
    registry.module(name)
    return define.functions(name)


@contextlib.contextmanager
def use(name: str, device_type: str = "cpu") -> Iterator[None]:
    """Run the public ops on ``device_type`` tensors through backend ``name`` inside the block.

    Raises :class:`BackendUnavailableError` (with the reason) when it cannot run there.
    """
    reason = availability(name, device_type)
    if reason is not None:
        raise BackendUnavailableError(reason)
    registry.module(name)  # a Python backend declares its private ops on import
    previous = _set_route(device_type, name)
    try:
        yield
    finally:
        _set_route(device_type, previous)


def explicit(name: str) -> SimpleNamespace:
    """Backend ``name``'s private ops as ``eks_conv2d(x, weight, bias, lora_A, lora_B, task_ids,
    stride, padding, dilation, groups, scaling)`` and ``eks_linear(x, weight, bias, lora_A,
    lora_B, task_ids, scaling)``, differentiable through the registered autograd, whatever the
    routes (for tests and benchmarks)."""
    reason = availability(name)
    if reason is not None:
        raise BackendUnavailableError(reason)
    registry.module(name)
    backend = BACKENDS[name]
    conv = getattr(torch.ops.lorkd, backend.op_name("eks_conv2d"))
    linear = getattr(torch.ops.lorkd, backend.op_name("eks_linear"))

    def eks_conv2d(
        x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
    ):
        return conv(
            x,
            weight,
            bias,
            lora_A,
            lora_B,
            task_ids,
            list(stride),
            list(padding),
            list(dilation),
            int(groups),
            float(scaling),
        )

    def eks_linear(x, weight, bias, lora_A, lora_B, task_ids, scaling):
        return linear(x, weight, bias, lora_A, lora_B, task_ids, float(scaling))

    return SimpleNamespace(name=name, eks_conv2d=eks_conv2d, eks_linear=eks_linear)


@contextlib.contextmanager
def conv_strategy(name: str) -> Iterator[None]:
    """Force the EKS conv algorithm (``auto``, ``merged``, ``split`` or ``stacked``) of the
    ``torch`` and ``cpu`` backends inside the block. All are exact; this is for tests and
    benchmarks. ``stacked`` is the ``cpu`` backend's split with the shrink stacked over all tasks
    (where it applies: dense convs); the ``torch`` backend runs ``split`` for it."""
    with settings(conv_strategy=name):
        yield


@contextlib.contextmanager
def triton_strategy(name: str) -> Iterator[None]:
    """Run the ``triton`` backend's convs in form ``name`` (``auto``, ``fused``, ``split``)
    inside the block. Linear layers always run the fused kernels (their base is one GEMM either
    way)."""
    with settings(triton_strategy=name):
        yield


def set_memory_cap(cap: float) -> float:
    """Cap the estimated peak memory (forward + backward) of the ``cpu`` backend's conv forms at
    ``cap`` times the plain layer's, for its cost model and its measured choices, by default in
    this process; returns the previous default. ``0`` removes the cap; forced strategies
    (:func:`conv_strategy`) ignore it. Choices measured earlier under another cap are kept until
    :func:`measured.clear_choices`."""
    return _settings.set_defaults(memory_cap=cap).memory_cap


@contextlib.contextmanager
def memory_cap(cap: float) -> Iterator[None]:
    """The memory cap (:func:`set_memory_cap`) inside the block, in this context."""
    with settings(memory_cap=cap):
        yield
