"""The implementations a layer benchmark compares, all computing one EKS layer's function.

* ``plain``: ``nn.Conv2d`` / ``nn.Linear`` of the same shape (expert 0 merged in): the baseline
  every ratio is taken against;
* one provider per lorkd backend that runs on the device: a backend module exposing
  ``conv2d_forward/conv2d_backward/linear_forward/linear_backward`` (``torch`` today, the GPU
  backends once they land) is wrapped in an autograd function; a backend with no such module that
  serves ``torch.ops.lorkd`` on the device (``cpu``: the compiled library) runs through
  ``EKSConv2d`` / ``EKSLinear`` and the registered op, as users call it;
* ``paper``: the official LoRKD formulation (per-sample weights, one ``groups = N`` conv),
  :func:`lorkd_kernels.reference.eks_conv2d_paper`;
* ``per_task_loop``: how peft serves a mixed batch of adapters: the base layer over the whole
  batch, then for each task present the LoRA branch (shrink with A, expand with B) on that task's
  rows, added back with ``index_add_``.

A provider is ``(fn(x, task_ids) -> y, params)``; ``params`` are the tensors whose gradients a
forward+backward step produces (cleared before every step).
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear, backends, reference

from .common import PROVIDER_FILTER

Provider = Tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], List[torch.Tensor]]
BACKEND_FUNCTIONS = ("conv2d_forward", "conv2d_backward", "linear_forward", "linear_backward")
#: backends that can run on each device type, in the order they are reported
DEVICE_BACKENDS = {"cpu": ("cpu", "torch"), "cuda": ("triton", "cuda", "torch")}
BASELINES = ("plain",)
COMPETITORS = ("paper", "per_task_loop")


def backend_module(name: str) -> Optional[ModuleType]:
    """The Python module of backend ``name`` when it exposes the four backend functions, else
    None: the one ``lorkd_kernels.backends`` registers for the name (``torch`` ->
    ``torch_ops``), or ``lorkd_kernels.backends.<name>`` / ``<name>_ops``.

    Import errors are tolerated (with a warning for anything but a missing module), so the suite
    runs before and after GPU backends land and on machines without their toolchains.
    """
    candidates = [backends.PYTHON_BACKENDS.get(name)]
    for module_name in (name, f"{name}_ops"):
        try:
            candidates.append(importlib.import_module(f"lorkd_kernels.backends.{module_name}"))
        except ModuleNotFoundError:
            continue
        except Exception as err:                   # e.g. a GPU toolchain missing at import
            warnings.warn(f"backend module {module_name!r} failed to import: {err}",
                          RuntimeWarning)
    for module in candidates:
        if module is not None and all(callable(getattr(module, fn, None))
                                      for fn in BACKEND_FUNCTIONS):
            return module
    return None


def backend_providers(device: torch.device) -> List[str]:
    """The lorkd backends that can run on ``device`` in this process."""
    names = []
    for name in DEVICE_BACKENDS.get(device.type, ("torch",)):
        if backend_module(name) is not None or backends.active_backend(device.type) == name:
            names.append(name)
    return names


def available_providers(device: torch.device) -> List[str]:
    """Every provider for ``device``, narrowed by ``LORKD_BENCH_PROVIDERS`` when set."""
    names = [*BASELINES, *backend_providers(device), *COMPETITORS]
    if PROVIDER_FILTER is not None:
        names = [n for n in names if n in PROVIDER_FILTER]
    return names


# ----------------------------------------------------------------------------- backend modules


class _ModuleConv2d(torch.autograd.Function):
    """A backend module's conv2d forward/backward as one autograd node (what ``ops.py`` does
    for the registered op, without the dispatcher)."""

    @staticmethod
    def forward(ctx, module, x, weight, bias, lora_A, lora_B, task_ids, stride, padding,
                dilation, groups, scaling):
        ctx.save_for_backward(x, weight, lora_A, lora_B, task_ids)
        ctx.module, ctx.has_bias = module, bias is not None
        ctx.config = (list(stride), list(padding), list(dilation), groups, scaling)
        return module.conv2d_forward(x, weight, bias, lora_A, lora_B, task_ids, *ctx.config)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, lora_A, lora_B, task_ids = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [need[1], need[2], ctx.has_bias and need[3], need[4], need[5]]
        grads = ctx.module.conv2d_backward(grad_out.contiguous(), x, weight, lora_A, lora_B,
                                           task_ids, *ctx.config, mask)
        return (None, *(g if m else None for g, m in zip(grads, mask))) + (None,) * 6


class _ModuleLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, module, x, weight, bias, lora_A, lora_B, task_ids, scaling):
        ctx.save_for_backward(x, weight, lora_A, lora_B, task_ids)
        ctx.module, ctx.has_bias, ctx.scaling = module, bias is not None, scaling
        return module.linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, lora_A, lora_B, task_ids = ctx.saved_tensors
        need = ctx.needs_input_grad
        mask = [need[1], need[2], ctx.has_bias and need[3], need[4], need[5]]
        grads = ctx.module.linear_backward(grad_out.contiguous(), x, weight, lora_A, lora_B,
                                           task_ids, ctx.scaling, mask)
        return (None, *(g if m else None for g, m in zip(grads, mask))) + (None, None)


# ----------------------------------------------------------------------------- per-task loop


def _lora_branch_conv(layer: EKSConv2d, x_t: torch.Tensor, task: int) -> torch.Tensor:
    """peft's LoRA conv branch for one task: a conv to ``groups * r`` channels with the base
    kernel geometry (A), then a grouped 1x1 conv back to ``C_out`` (B)."""
    rank, groups = layer.rank, layer.groups
    shrink = layer.lora_A[task].reshape(rank, *layer.weight.shape[1:]).repeat(groups, 1, 1, 1)
    expand = layer.lora_B[task].reshape(layer.out_channels, rank, 1, 1)
    u = F.conv2d(x_t, shrink, None, layer.stride, layer.padding, layer.dilation, groups)
    return F.conv2d(u, expand, None, 1, 0, 1, groups) * layer.scaling


def _lora_branch_linear(layer: EKSLinear, x_t: torch.Tensor, task: int) -> torch.Tensor:
    return F.linear(F.linear(x_t, layer.lora_A[task]), layer.lora_B[task]) * layer.scaling


def _per_task_loop(base: Callable, branch: Callable, layer: nn.Module):
    def run(x: torch.Tensor, task_ids: torch.Tensor) -> torch.Tensor:
        y = base(x)
        for task in torch.unique(task_ids).tolist():
            rows = (task_ids == task).nonzero().squeeze(1)
            y.index_add_(0, rows, branch(layer, x.index_select(0, rows), task))
        return y
    return run


# ----------------------------------------------------------------------------- providers


def _params(module: nn.Module) -> List[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def conv_provider(name: str, layer: EKSConv2d) -> Provider:
    """Provider ``name`` computing ``layer`` (symmetric zero padding, as in the real models)."""
    conf = (layer.stride, layer.padding, layer.dilation, layer.groups)
    if name == "plain":
        plain = layer.to_conv(0)
        return (lambda x, t: plain(x)), _params(plain)
    if name == "paper":
        return (lambda x, t: reference.eks_conv2d_paper(
            x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, *conf,
            layer.scaling)), _params(layer)
    if name == "per_task_loop":
        base = lambda x: F.conv2d(x, layer.weight, layer.bias, *conf)   # noqa: E731
        return _per_task_loop(base, _lora_branch_conv, layer), _params(layer)
    module = backend_module(name)
    if module is not None:
        return (lambda x, t: _ModuleConv2d.apply(
            module, x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, *conf,
            layer.scaling)), _params(layer)
    if backends.active_backend(layer.weight.device.type) == name:
        return layer, _params(layer)
    raise ValueError(f"provider {name!r} is not available on {layer.weight.device}")


def linear_provider(name: str, layer: EKSLinear) -> Provider:
    if name == "plain":
        plain = layer.to_linear(0)
        return (lambda x, t: plain(x)), _params(plain)
    if name == "paper":
        return (lambda x, t: reference.eks_linear_paper(
            x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t,
            layer.scaling)), _params(layer)
    if name == "per_task_loop":
        base = lambda x: F.linear(x, layer.weight, layer.bias)           # noqa: E731
        return _per_task_loop(base, _lora_branch_linear, layer), _params(layer)
    module = backend_module(name)
    if module is not None:
        return (lambda x, t: _ModuleLinear.apply(
            module, x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t,
            layer.scaling)), _params(layer)
    if backends.active_backend(layer.weight.device.type) == name:
        return layer, _params(layer)
    raise ValueError(f"provider {name!r} is not available on {layer.weight.device}")


def backend_of(provider: str, device: torch.device) -> Optional[str]:
    """The lorkd backend a provider runs on, or None for plain / paper / per_task_loop."""
    return provider if provider in DEVICE_BACKENDS.get(device.type, ("torch",)) else None

