"""The public ops: their schemas, router, fake (shape) kernels and autograd, and the functional API.

Ops (namespace ``lorkd``)::

    eks_conv2d(x, weight, bias?, lora_A, lora_B, task_ids, stride, padding, dilation, groups,
               scaling) -> y
    eks_conv2d_backward(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding, dilation,
                        groups, scaling, output_mask) -> (dx, dweight, dbias, dA, dB)
    eks_linear(x, weight, bias?, lora_A, lora_B, task_ids, scaling) -> y
    eks_linear_backward(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask)
        -> (dx, dweight, dbias, dA, dB)

``output_mask`` selects which of the five gradients to compute; the others come back as empty
tensors of shape ``(0,)``. Outputs are contiguous. The compiled library defines the same schemas
in C++ (``csrc/schema.cpp``); when it is not loaded they are defined here.

Every backend (``lorkd_kernels/backends/registry.py``) also has private ops with these schemas,
``_<backend>_<op>`` (``torch.ops.lorkd._cpu_eks_conv2d``, ``_torch_eks_linear_backward``, ...).
The public ops only route: on CPU and CUDA tensors the compiled library's route table sends each
call to the routed backend; elsewhere, or without the library, the Python router here does.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union, cast

import torch
from torch.nn.modules.utils import _pair

from . import backends
from ._schemas import SCHEMAS
from ._autograd import register_python_autograd
from .backends import define


def _op_exists(name: str) -> bool:
    try:
        getattr(torch.ops.lorkd, name)
    except (AttributeError, RuntimeError):
        return False
    return True


# Loading the backends defines the compiled library's ops (the public schemas among them) and
# each backend's private ops (every backend module declares its own: ``backends/define.py``).
backends.load()
for _name, _schema in SCHEMAS.items():
    if not _op_exists(_name):
        define.LIBRARY.define(_schema)


def _python_router(op: str):
    """The public op ``op`` where the compiled library does not route (it is absent, or the
    device is neither CPU nor CUDA): the device's routed backend, validated."""

    def route(*args):
        return backends.python_functions_for(args[0].device.type)[op](*args)

    return route


for _name in SCHEMAS:
    define.LIBRARY.impl(_name, _python_router(_name), "CompositeExplicitAutograd")
define.register_fakes("")
if not backends.compiled_loaded():
    register_python_autograd("")


# ----------------------------------------------------------------------------- functional API

IntPair = Union[int, Sequence[int]]


def _autocast(*tensors: Optional[torch.Tensor]) -> tuple:
    """Under ``torch.autocast`` run in the autocast dtype, as ``F.conv2d``/``F.linear`` do.

    Cast here rather than with ``torch.library.register_autocast``, which fixes one dtype per
    device where autocast lets the user pick bf16 or fp16.
    """
    device_type = cast(torch.Tensor, tensors[0]).device.type  # x: never None
    # a device without autocast (meta: shapes only, as in FLOP counting) has none to apply;
    # torch.is_autocast_enabled raises for it
    if not torch.amp.is_autocast_available(device_type) or not torch.is_autocast_enabled(
        device_type
    ):
        return tensors
    dtype = torch.get_autocast_dtype(device_type)
    return tuple(t.to(dtype) if t is not None and t.is_floating_point() else t for t in tensors)


def eks_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    scaling: float = 1.0,
) -> torch.Tensor:
    """EKS convolution: sample ``n`` is convolved with ``W0 + scaling * B[t_n] @ A[t_n]``.

    ``padding`` is symmetric zero padding; other padding modes are applied by the caller
    (``EKSConv2d`` does it). Every backend validates the arguments before its kernel runs.
    """
    stride, padding, dilation = list(_pair(stride)), list(_pair(padding)), list(_pair(dilation))
    x, weight, bias, lora_A, lora_B = _autocast(x, weight, bias, lora_A, lora_B)
    return torch.ops.lorkd.eks_conv2d(
        x,
        weight,
        bias,
        lora_A,
        lora_B,
        task_ids,
        stride,
        padding,
        dilation,
        int(groups),
        float(scaling),
    )


def eks_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    scaling: float = 1.0,
) -> torch.Tensor:
    """EKS linear layer: ``y[n] = x[n] @ (W0 + scaling * B[t_n] @ A[t_n])^T + bias``.

    ``x`` is ``(N, ..., in_features)``; all positions of sample ``n`` use task ``task_ids[n]``.
    """
    x, weight, bias, lora_A, lora_B = _autocast(x, weight, bias, lora_A, lora_B)
    return torch.ops.lorkd.eks_linear(x, weight, bias, lora_A, lora_B, task_ids, float(scaling))
