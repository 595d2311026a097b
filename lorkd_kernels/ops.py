"""The op surface: schemas, fake (shape) kernels, autograd, and the functional API.

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
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch.nn.modules.utils import _pair

from . import backends
from ._checks import (check_conv2d_args, check_grad_out, check_linear_args,
                      conv2d_output_size)

SCHEMAS = {
    "eks_conv2d": (
        "eks_conv2d(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, int groups, "
        "float scaling) -> Tensor"),
    "eks_conv2d_backward": (
        "eks_conv2d_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, int[2] stride, int[2] padding, int[2] dilation, "
        "int groups, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"),
    "eks_linear": (
        "eks_linear(Tensor x, Tensor weight, Tensor? bias, Tensor lora_A, Tensor lora_B, "
        "Tensor task_ids, float scaling) -> Tensor"),
    "eks_linear_backward": (
        "eks_linear_backward(Tensor grad_out, Tensor x, Tensor weight, Tensor lora_A, "
        "Tensor lora_B, Tensor task_ids, float scaling, bool[5] output_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"),
}


def _op_exists(name: str) -> bool:
    try:
        getattr(torch.ops.lorkd, name)
    except (AttributeError, RuntimeError):
        return False
    return True


backends.load_compiled()
_lib = torch.library.Library("lorkd", "FRAGMENT")
for _name, _schema in SCHEMAS.items():
    if not _op_exists(_name):
        _lib.define(_schema)



# The Python backends validate like the C++ kernels do, so a direct torch.ops.lorkd.* call gets
# the same clear errors whichever backend serves it.
# Forward ops take (x, weight, bias, ...); backward ops (grad_out, x, weight, lora_A, ...).
def _validated_conv2d(fn, is_backward: bool):
    def run(*args):
        x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups = (
            (*args[1:3], None, *args[3:10]) if is_backward else args[:10])
        check_conv2d_args(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation,
                          groups)
        if is_backward:
            check_grad_out(args[0], conv2d_output_size(x.shape, weight.shape, stride, padding,
                                                       dilation), x)
        return fn(*args)
    return run


def _validated_linear(fn, is_backward: bool):
    def run(*args):
        x, weight, bias, lora_A, lora_B, task_ids = (
            (*args[1:3], None, *args[3:6]) if is_backward else args[:6])
        check_linear_args(x, weight, bias, lora_A, lora_B, task_ids)
        if is_backward:
            check_grad_out(args[0], (*x.shape[:-1], weight.shape[0]), x)
        return fn(*args)
    return run


def _register(backend, dispatch_key: str) -> None:
    """Register ``backend``'s four functions (validated) for ``dispatch_key``; ``backend`` is a
    module or a zero-argument callable returning one (resolved at the first call)."""
    def fn(name):
        def call(*args):
            module = backend() if callable(backend) else backend
            return getattr(module, name)(*args)
        return call
    for op_name, impl in (("eks_conv2d", _validated_conv2d(fn("conv2d_forward"), False)),
                          ("eks_conv2d_backward",
                           _validated_conv2d(fn("conv2d_backward"), True)),
                          ("eks_linear", _validated_linear(fn("linear_forward"), False)),
                          ("eks_linear_backward",
                           _validated_linear(fn("linear_backward"), True))):
        _lib.impl(op_name, impl, dispatch_key)


_register(backends.python_backend(), "CompositeExplicitAutograd")
# CUDA tensors run the fused Triton kernels, imported at the first CUDA call
if backends.triton_serves_cuda():
    _register(backends.triton_backend, "CUDA")


# ----------------------------------------------------------------------------- fakes


def _masked_grads(output_mask, x, weight, bias_len, lora_A, lora_B):
    shapes = [x.shape, weight.shape, (bias_len,), lora_A.shape, lora_B.shape]
    return tuple(x.new_empty(shape if need else (0,)) for shape, need in zip(shapes, output_mask))


@torch.library.register_fake("lorkd::eks_conv2d")
def _eks_conv2d_fake(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation,
                     groups, scaling):
    check_conv2d_args(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups)
    return x.new_empty(conv2d_output_size(x.shape, weight.shape, stride, padding, dilation))


@torch.library.register_fake("lorkd::eks_conv2d_backward")
def _eks_conv2d_backward_fake(grad_out, x, weight, lora_A, lora_B, task_ids, stride, padding,
                              dilation, groups, scaling, output_mask):
    return _masked_grads(output_mask, x, weight, weight.shape[0], lora_A, lora_B)


@torch.library.register_fake("lorkd::eks_linear")
def _eks_linear_fake(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    check_linear_args(x, weight, bias, lora_A, lora_B, task_ids)
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


@torch.library.register_fake("lorkd::eks_linear_backward")
def _eks_linear_backward_fake(grad_out, x, weight, lora_A, lora_B, task_ids, scaling,
                              output_mask):
    return _masked_grads(output_mask, x, weight, weight.shape[0], lora_A, lora_B)


# ----------------------------------------------------------------------------- autograd


def _setup_context(ctx, inputs, output):
    x, weight, bias, lora_A, lora_B, task_ids, *config = inputs
    ctx.save_for_backward(x, weight, lora_A, lora_B, task_ids)
    ctx.config = config
    ctx.has_bias = bias is not None


def _backward_through(backward_op):
    """Autograd formula of a forward op: call its backward op for the inputs that need grads."""
    def backward(ctx, grad_out):
        x, weight, lora_A, lora_B, task_ids = ctx.saved_tensors
        needs = ctx.needs_input_grad
        mask = [needs[0], needs[1], ctx.has_bias and needs[2], needs[3], needs[4]]
        grads = backward_op(grad_out, x, weight, lora_A, lora_B, task_ids, *ctx.config, mask)
        # one entry per forward input: the five tensors, then task_ids and the config scalars
        return (tuple(g if need else None for g, need in zip(grads, mask)) +
                (None,) * (1 + len(ctx.config)))
    return backward


# The compiled library registers this same formula in C++ (csrc/autograd.cpp), which saves a
# Python round trip per layer call; these serve when it is not loaded.
if not backends.compiled_loaded():
    torch.library.register_autograd("lorkd::eks_conv2d",
                                    _backward_through(torch.ops.lorkd.eks_conv2d_backward),
                                    setup_context=_setup_context)
    torch.library.register_autograd("lorkd::eks_linear",
                                    _backward_through(torch.ops.lorkd.eks_linear_backward),
                                    setup_context=_setup_context)


# ----------------------------------------------------------------------------- functional API

IntPair = Union[int, Sequence[int]]


def _autocast(*tensors: Optional[torch.Tensor]) -> tuple:
    """Under ``torch.autocast`` run in the autocast dtype, as ``F.conv2d``/``F.linear`` do.

    Cast here rather than with ``torch.library.register_autocast``, which fixes one dtype per
    device where autocast lets the user pick bf16 or fp16.
    """
    device_type = tensors[0].device.type
    if not torch.is_autocast_enabled(device_type):
        return tensors
    dtype = torch.get_autocast_dtype(device_type)
    return tuple(t.to(dtype) if t is not None and t.is_floating_point() else t for t in tensors)


def eks_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
               stride: IntPair = 1, padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1,
               scaling: float = 1.0) -> torch.Tensor:
    """EKS convolution: sample ``n`` is convolved with ``W0 + scaling * B[t_n] @ A[t_n]``.

    ``padding`` is symmetric zero padding; other padding modes are applied by the caller
    (``EKSConv2d`` does it). Every backend validates the arguments before its kernel runs.
    """
    stride, padding, dilation = list(_pair(stride)), list(_pair(padding)), list(_pair(dilation))
    x, weight, bias, lora_A, lora_B = _autocast(x, weight, bias, lora_A, lora_B)
    return torch.ops.lorkd.eks_conv2d(x, weight, bias, lora_A, lora_B, task_ids, stride, padding,
                                      dilation, int(groups), float(scaling))


def eks_linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
               lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
               scaling: float = 1.0) -> torch.Tensor:
    """EKS linear layer: ``y[n] = x[n] @ (W0 + scaling * B[t_n] @ A[t_n])^T + bias``.

    ``x`` is ``(N, ..., in_features)``; all positions of sample ``n`` use task ``task_ids[n]``.
    """
    x, weight, bias, lora_A, lora_B = _autocast(x, weight, bias, lora_A, lora_B)
    return torch.ops.lorkd.eks_linear(x, weight, bias, lora_A, lora_B, task_ids, float(scaling))
