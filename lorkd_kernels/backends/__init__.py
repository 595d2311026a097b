"""Backend selection: which implementation of the ``lorkd`` ops runs on which device.

* ``cpu``: the compiled C++ kernels, registered for the CPU dispatch key when ``_C`` loads.
* ``torch``: ATen-call implementation registered as ``CompositeExplicitAutograd``, so it serves
  every device without a specialised kernel (and CPU when ``_C`` is absent).
* ``reference``: the per-sample oracle, used instead of ``torch`` when forced.
* ``cuda``: the CUDA C++ kernels (``csrc/cuda``), registered for the CUDA dispatch key when ``_C``
  was built against a CUDA torch with a toolkit present.
* ``cuda_emu``: those same CUDA kernel bodies run on CPU tensors by the emulation harness
  (``csrc/emu``), always compiled into ``_C``; forcing it routes the CPU dispatch key there.
* ``triton``: fused Triton kernels (``backends/triton/``), the CUDA implementation when triton is
  installed; forced with ``LORKD_BACKEND=triton`` it serves every device (CPU tensors need
  ``TRITON_INTERPRET=1``). Imported on first use, so ``import lorkd_kernels`` never needs triton.

``LORKD_BACKEND=<name>`` forces one. A forced backend that cannot load is an error; when nothing is
forced and ``_C`` is missing, the ``torch`` backend takes over with a warning.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import warnings
from types import ModuleType
from typing import Iterator, Optional

import torch

from . import cpu, cuda_emu, reference_impl, torch_ops

#: every backend name the project knows
KNOWN_BACKENDS = ("reference", "torch", "cpu", "triton", "cuda", "cuda_emu")
#: backends this version implements (whether one loads also depends on the build and device)
IMPLEMENTED_BACKENDS = ("reference", "torch", "cpu", "cuda", "cuda_emu")
TRITON_AVAILABLE = importlib.util.find_spec("triton") is not None
if TRITON_AVAILABLE:
    IMPLEMENTED_BACKENDS += ("triton",)
#: backends served by the compiled library
COMPILED_BACKENDS = ("cpu", "cuda", "cuda_emu")
PYTHON_BACKENDS = {"reference": reference_impl, "torch": torch_ops}


class BackendUnavailableError(RuntimeError):
    """A backend forced with ``LORKD_BACKEND`` cannot be used."""


_compiled_loaded = False
_compiled_has_cuda = False


def requested_backend() -> Optional[str]:
    """The backend named by ``LORKD_BACKEND`` (validated), or None."""
    name = os.environ.get("LORKD_BACKEND", "").strip().lower()
    if not name:
        return None
    if name not in KNOWN_BACKENDS:
        raise BackendUnavailableError(
            f"LORKD_BACKEND={name!r} is not a backend; choose one of {', '.join(KNOWN_BACKENDS)}")
    if name not in IMPLEMENTED_BACKENDS:
        raise BackendUnavailableError(
            f"LORKD_BACKEND={name!r} is not available in this version of lorkd_kernels "
            f"(available: {', '.join(IMPLEMENTED_BACKENDS)})")
    return name


def load_compiled() -> bool:
    """Load the compiled kernels unless a Python backend is forced; True when loaded."""
    global _compiled_loaded, _compiled_has_cuda
    forced = requested_backend()
    if forced in PYTHON_BACKENDS or forced == "triton":
        return False
    try:
        cpu.load_library()
    except (OSError, RuntimeError) as err:   # FileNotFoundError is an OSError
        if forced in COMPILED_BACKENDS:
            raise BackendUnavailableError(f"LORKD_BACKEND={forced} but the compiled kernels did "
                                          f"not load: {err}") from err
        warnings.warn(f"lorkd_kernels: compiled CPU kernels unavailable ({err}); "
                      "using the 'torch' backend", RuntimeWarning, stacklevel=3)
        return False
    _compiled_loaded = True
    _compiled_has_cuda = _library_registered_cuda()
    if forced == "cuda" and not _compiled_has_cuda:
        raise BackendUnavailableError(
            "LORKD_BACKEND=cuda but lorkd_kernels._C holds no CUDA kernels: rebuild it against a "
            "CUDA build of torch with a CUDA toolkit (LORKD_BUILD_CUDA=1, CUDA_HOME), or use "
            "LORKD_BACKEND=cuda_emu to run those kernels on CPU tensors")
    torch.ops.lorkd._set_cpu_kernels("cuda_emu" if forced == "cuda_emu" else "native")
    return True


def compiled_loaded() -> bool:
    """Whether the compiled library (``_C``) is loaded: its kernels serve CPU and its C++
    autograd serves every device."""
    return _compiled_loaded


def has_cuda_kernels() -> bool:
    """Whether the loaded compiled library registered CUDA kernels for the lorkd ops."""
    return _compiled_has_cuda


def _library_registered_cuda() -> bool:
    # Asked right after loading _C, before ops.py may register the Triton kernels for CUDA.
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key("lorkd::eks_conv2d", "CUDA")
    except (AttributeError, RuntimeError):   # private API: without it, assume none
        return False


def triton_backend() -> ModuleType:
    """The ``triton`` backend module (imports triton and defines its kernels on first call)."""
    try:
        return importlib.import_module(".triton", __name__)
    except ImportError as err:
        raise BackendUnavailableError(f"the triton backend did not import: {err}") from err


def python_backend() -> ModuleType:
    """The Python backend registered as the device-generic implementation."""
    if requested_backend() == "triton":
        return triton_backend()
    return PYTHON_BACKENDS.get(requested_backend() or "torch", torch_ops)


def triton_serves_cuda() -> bool:
    """Whether CUDA tensors run the triton kernels (installed, and no other backend forced)."""
    return TRITON_AVAILABLE and requested_backend() in (None, "triton")


def active_backend(device_type: str = "cpu") -> str:
    """Name of the backend that ``torch.ops.lorkd.*`` runs on tensors of ``device_type``."""
    forced = requested_backend()
    if forced == "triton" or (device_type == "cuda" and triton_serves_cuda()):
        return "triton"
    if device_type == "cpu" and _compiled_loaded:
        return "cuda_emu" if forced == "cuda_emu" else "cpu"
    if device_type == "cuda" and has_cuda_kernels():
        return "cuda"
    return forced if forced in PYTHON_BACKENDS else "torch"


@contextlib.contextmanager
def conv_strategy(name: str) -> Iterator[None]:
    """Force the EKS conv algorithm (``auto``, ``merged`` or ``split``) of the ``torch`` and
    ``cpu`` backends inside the block. Both are exact; this is for tests and benchmarks."""
    if name not in torch_ops.STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {torch_ops.STRATEGIES}")
    code = torch_ops.STRATEGIES.index(name)
    previous_python = torch_ops.default_strategy
    torch_ops.default_strategy = name
    previous_cpu = torch.ops.lorkd._set_cpu_conv_strategy(code) if _compiled_loaded else None
    try:
        yield
    finally:
        torch_ops.default_strategy = previous_python
        if previous_cpu is not None:
            torch.ops.lorkd._set_cpu_conv_strategy(previous_cpu)
