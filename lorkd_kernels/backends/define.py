"""Declaring a backend: the one call a backend module makes, at its end, to join the ops.

:func:`python_backend` gives a backend written in Python (``torch_ops.py``, ``reference_impl.py``,
``triton/``) everything the ops need from it: its private ops ``lorkd::_<name>_<op>`` with the
public schemas (plain ``torch.library`` ops, or ``triton_op`` for kernels ``torch.compile``
should see), argument validation in front of its four functions, the shared fake kernels and the
autograd formula. :func:`compiled_backend` does the Python half for a backend whose private ops
the compiled library defines (``cpu.py``, ``cuda.py``, ``cuda_emu.py``): the fake kernels, and
the four functions calling those ops. Where a backend runs and what it needs is its entry in
``registry.py``; nothing else names it.
"""

from __future__ import annotations

import inspect
import re
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from .._autograd import register_python_autograd
from .._checks import check_conv2d_args, check_linear_args, conv2d_output_size, validated_backend
from .._schemas import SCHEMAS
from . import library
from .registry import get

#: the ``lorkd`` library fragment that the Python side defines its ops in
LIBRARY = torch.library.Library("lorkd", "FRAGMENT")

#: backend name -> its four validated functions, by op name (filled by :func:`python_backend`)
_DEFINED: Dict[str, Dict[str, Callable[..., Any]]] = {}


def signature(op: str) -> str:
    """``op``'s schema without its name, for the private ops of the same signature."""
    return SCHEMAS[op][len(op) :]


# ----------------------------------------------------------------------------- fakes
# Shapes only, for FakeTensor tracing (torch.compile, meta tensors); shared by every op family.


def _masked_grads(output_mask, x, weight, bias_len, lora_A, lora_B):
    shapes = [x.shape, weight.shape, (bias_len,), lora_A.shape, lora_B.shape]
    return tuple(x.new_empty(shape if need else (0,)) for shape, need in zip(shapes, output_mask))


def _eks_conv2d_fake(
    x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
):
    check_conv2d_args(x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups)
    return x.new_empty(conv2d_output_size(x.shape, weight.shape, stride, padding, dilation))


def _eks_conv2d_backward_fake(
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
    return _masked_grads(output_mask, x, weight, weight.shape[0], lora_A, lora_B)


def _eks_linear_fake(x, weight, bias, lora_A, lora_B, task_ids, scaling):
    check_linear_args(x, weight, bias, lora_A, lora_B, task_ids)
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _eks_linear_backward_fake(grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask):
    return _masked_grads(output_mask, x, weight, weight.shape[0], lora_A, lora_B)


FAKES: Dict[str, Callable[..., Any]] = {
    "eks_conv2d": _eks_conv2d_fake,
    "eks_conv2d_backward": _eks_conv2d_backward_fake,
    "eks_linear": _eks_linear_fake,
    "eks_linear_backward": _eks_linear_backward_fake,
}
assert FAKES.keys() == SCHEMAS.keys()


def register_fakes(prefix: str) -> None:
    """The fake kernels of the op family ``<prefix><op>`` ("" for the public ops)."""
    for op, fake in FAKES.items():
        torch.library.register_fake(f"lorkd::{prefix}{op}", fake, lib=LIBRARY)


# ----------------------------------------------------------------------------- schemas as types

_SCHEMA_TYPES = {
    "Tensor": torch.Tensor,
    "Tensor?": Optional[torch.Tensor],
    "int": int,
    "float": float,
    "int[2]": List[int],
    "bool[5]": List[bool],
}


def _typed(fn: Callable[..., Any], op: str) -> Callable[..., Any]:
    """``fn`` with the signature of ``op``'s schema as type annotations: ``triton_op`` infers its
    schema from them (and, in some torch releases, ignores a ``schema=`` argument)."""
    parts = re.fullmatch(r"\w+\((.*)\) -> (.*)", SCHEMAS[op])
    assert parts is not None, SCHEMAS[op]
    arguments, returns = parts.groups()
    parameters = []
    for argument in arguments.split(", "):
        kind, name = argument.rsplit(" ", 1)
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=_SCHEMA_TYPES[kind]
            )
        )
    outputs = returns.strip("()").split(", ")
    result = torch.Tensor if len(outputs) == 1 else Tuple[(torch.Tensor,) * len(outputs)]

    def typed(*args):
        return fn(*args)

    schema_types = inspect.Signature(parameters, return_annotation=result)
    typed.__signature__ = schema_types  # type: ignore[attr-defined]
    return typed


# ----------------------------------------------------------------------------- declaring


def python_backend(name: str, module: ModuleType, *, triton_op: bool = False) -> None:
    """Declare backend ``name`` (an entry of the registry) whose kernels are ``module``'s
    ``conv2d_forward``, ``conv2d_backward``, ``linear_forward`` and ``linear_backward``: define
    its private ops, validating their arguments before the kernels run; register the fake
    kernels and the autograd formula. ``triton_op=True`` defines them with
    ``torch.library.triton_op``, so ``torch.compile`` traces into the Triton launches (the fakes
    then come from tracing the functions themselves)."""
    backend = get(name)
    functions = validated_backend(module)
    for op, fn in functions.items():
        private = backend.op_name(op)
        if triton_op:
            torch.library.triton_op(f"lorkd::{private}", _typed(fn, op), mutates_args=())
        else:
            LIBRARY.define(private + signature(op))
            LIBRARY.impl(private, fn, "CompositeExplicitAutograd")
    if not triton_op:
        register_fakes(backend.op_name(""))
    register_python_autograd(name)
    _DEFINED[name] = functions


def compiled_backend(name: str) -> Tuple[Callable, Callable, Callable, Callable]:
    """Declare backend ``name`` whose private ops the compiled library defines (with their C++
    autograd): register their fake kernels when the library is loaded, and return the four
    backend functions calling them."""
    if library.loaded():
        register_fakes(get(name).op_name(""))
    return library.private_op_functions(name)


def functions(name: str) -> Dict[str, Callable[..., Any]]:
    """The validated functions of Python backend ``name``, by op name (it must be declared:
    import its module first, e.g. with ``registry.module``)."""
    return _DEFINED[name]
