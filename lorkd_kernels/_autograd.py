"""Autograd of the lorkd forward ops in Python: the forward op's inputs are saved, and its
backward op is asked for exactly the gradients the graph needs (its ``output_mask``).

The compiled library registers the same formula in C++ (``csrc/autograd.cpp``) for the public ops
and its own backends' private ops; this module serves the Python backends' private ops, and the
public ops when the library is not loaded.
"""

from __future__ import annotations

import torch

from .backends.registry import BACKENDS


def _setup_context(ctx, inputs, output):
    x, weight, bias, lora_A, lora_B, task_ids, *config = inputs
    ctx.save_for_backward(x, weight, lora_A, lora_B, task_ids)
    ctx.config = config
    ctx.has_bias = bias is not None


def _backward_through(backward_op, differentiable_name: str):
    """Autograd formula of a forward op: call its backward op for the inputs that need grads;
    with grad mode on (``create_graph=True``: a gradient of this gradient will be taken) the
    torch backend's, made of differentiable torch ops (the kernels' are not)."""

    def backward(ctx, grad_out):
        x, weight, lora_A, lora_B, task_ids = ctx.saved_tensors
        needs = ctx.needs_input_grad
        mask = [needs[0], needs[1], ctx.has_bias and needs[2], needs[3], needs[4]]
        # looked up when needed: every backend's ops are defined by then
        op = (
            getattr(torch.ops.lorkd, differentiable_name)
            if torch.is_grad_enabled()
            else backward_op
        )
        grads = op(grad_out, x, weight, lora_A, lora_B, task_ids, *ctx.config, mask)
        # one entry per forward input: the five tensors, then task_ids and the config scalars
        return tuple(g if need else None for g, need in zip(grads, mask)) + (None,) * (
            1 + len(ctx.config)
        )

    return backward


def register_python_autograd(backend: str) -> None:
    """Autograd of backend ``backend``'s private forward ops ("" for the public ops) through its
    backward ops, in Python. The compiled library registers the same formula in C++
    (``csrc/autograd.cpp``) for the public ops and its own backends' private ops, which saves a
    Python round trip per layer call; this serves every other op."""
    prefix = BACKENDS[backend].op_name("") if backend else ""
    differentiable = BACKENDS["torch"].op_name("")
    for forward in ("eks_conv2d", "eks_linear"):
        backward_op = getattr(torch.ops.lorkd, f"{prefix}{forward}_backward")
        torch.library.register_autograd(
            f"lorkd::{prefix}{forward}",
            _backward_through(backward_op, f"{differentiable}{forward}_backward"),
            setup_context=_setup_context,
        )
