"""The compiled library ``lorkd_kernels._C``: where it is, loading it, and what it registered.

Loading it defines the op schemas, the route table of the public ops, the C++ autograd and the
private ops of the compiled backends (``cpu``, ``cuda_emu`` and, in a CUDA build, ``cuda``).
"""

from __future__ import annotations

import glob
import os
from typing import Callable, Tuple

import torch

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_loaded = False


def library_path() -> str:
    """Path of the compiled ``_C`` library: ``LORKD_LIBRARY`` when set (a build kept elsewhere,
    e.g. one compiled against another torch or with sanitizers), else the one inside the
    package; FileNotFoundError if absent."""
    override = os.environ.get("LORKD_LIBRARY", "").strip()
    if override:
        if not os.path.isfile(override):
            raise FileNotFoundError(f"LORKD_LIBRARY={override!r} is not a file")
        return override
    candidates = sorted(
        glob.glob(os.path.join(_PACKAGE_DIR, "_C*.so"))
        + glob.glob(os.path.join(_PACKAGE_DIR, "_C*.pyd"))
    )
    if not candidates:
        raise FileNotFoundError(
            f"no compiled library lorkd_kernels/_C*.so in {_PACKAGE_DIR}; build it with "
            "`pip install --no-build-isolation -e .` (without LORKD_BUILD=python)"
        )
    return candidates[0]


def load() -> str:
    """Load ``_C`` into this process (registers its kernels) and return its path."""
    global _loaded
    path = library_path()
    torch.ops.load_library(path)
    _loaded = True
    return path


def loaded() -> bool:
    """Whether ``_C`` is loaded in this process."""
    return _loaded


def has_range_notes() -> bool:
    """Whether the loaded ``_C`` takes notes of checked task-id ranges (``_note_task_id_range``;
    a library built from older sources does not)."""
    return _loaded and hasattr(torch.ops.lorkd, "_note_task_id_range")


def has_kernel(op_name: str, dispatch_key: str) -> bool:
    """Whether ``lorkd::<op_name>`` has a kernel for ``dispatch_key`` (e.g. a CUDA build's
    ``_cuda_eks_conv2d`` for ``CUDA``)."""
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(f"lorkd::{op_name}", dispatch_key)
    except (AttributeError, RuntimeError):  # private API: without it, assume none
        return False


def private_op_functions(backend: str) -> Tuple[Callable, Callable, Callable, Callable]:
    """The four backend functions of a compiled backend, each calling its private op
    ``torch.ops.lorkd._<backend>_<op>`` (looked up at call time, after the library loads)."""

    def op(name):
        return getattr(torch.ops.lorkd, f"_{backend}_{name}")

    def conv2d_forward(
        x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
    ):
        return op("eks_conv2d")(
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

    def conv2d_backward(
        grad_out,
        x,
        weight,
        lora_A,
        lora_B,
        task_ids,
        stride,
        padding,
        dilation,
        groups,
        scaling,
        output_mask,
    ):
        return op("eks_conv2d_backward")(
            grad_out,
            x,
            weight,
            lora_A,
            lora_B,
            task_ids,
            list(stride),
            list(padding),
            list(dilation),
            int(groups),
            float(scaling),
            list(output_mask),
        )

    def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling):
        return op("eks_linear")(x, weight, bias, lora_A, lora_B, task_ids, float(scaling))

    def linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
        return op("eks_linear_backward")(
            grad_out, x, weight, lora_A, lora_B, task_ids, float(scaling), list(output_mask)
        )

    return conv2d_forward, conv2d_backward, linear_forward, linear_backward
