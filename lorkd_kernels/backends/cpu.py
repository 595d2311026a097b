"""The ``cpu`` backend: C++ kernels from ``csrc/cpu`` in the compiled library ``lorkd_kernels._C``.

Loading the library registers ``TORCH_LIBRARY_IMPL(lorkd, CPU, ...)`` kernels (and the op schemas,
the emulated CUDA kernels and, in a CUDA build, the CUDA kernels) with the dispatcher; there is
nothing to call from Python beyond :func:`load_library`.
"""

from __future__ import annotations

import glob
import os

import torch

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def library_path() -> str:
    """Path of the compiled ``_C`` library: ``LORKD_LIBRARY`` when set (a build kept elsewhere,
    e.g. one compiled against another torch), else the one inside the package;
    FileNotFoundError if absent."""
    override = os.environ.get("LORKD_LIBRARY", "").strip()
    if override:
        if not os.path.isfile(override):
            raise FileNotFoundError(f"LORKD_LIBRARY={override!r} is not a file")
        return override
    candidates = sorted(glob.glob(os.path.join(_PACKAGE_DIR, "_C*.so")) +
                        glob.glob(os.path.join(_PACKAGE_DIR, "_C*.pyd")))
    if not candidates:
        raise FileNotFoundError(
            f"no compiled library lorkd_kernels/_C*.so in {_PACKAGE_DIR}; build it with "
            "`pip install --no-build-isolation -e .` (without LORKD_NO_EXTENSIONS=1)")
    return candidates[0]


def load_library() -> str:
    """Load ``_C`` into this process (registers its kernels) and return its path."""
    path = library_path()
    torch.ops.load_library(path)
    return path
