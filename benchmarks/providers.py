"""The implementations a layer benchmark compares, all computing one EKS layer's function.

* ``plain``: ``nn.Conv2d`` / ``nn.Linear`` of the same shape (expert 0 merged in): the baseline
  every ratio is taken against;
* one provider per lorkd backend of the registry that runs on the device (``cpu`` and ``torch``
  on CPU; ``triton``, ``cuda`` and ``torch`` on a GPU), each called through its private ops
  (``lorkd_kernels.backends.explicit``) with the autograd registered for them, so every backend is
  timed side by side in one run; next to ``cpu``, ``cpu_measured`` (its conv algorithm chosen by
  timing); on a GPU ``triton`` runs the fused kernels and ``triton_split`` the split form of its
  convs, and ``triton_measured`` the default ``auto`` with measuring on;
* ``paper``: the official LoRKD formulation (per-sample weights, one ``groups = N`` conv),
  :func:`lorkd_kernels.reference.eks_conv2d_paper`;
* ``per_task_loop``: how peft serves a mixed batch of adapters: the base layer over the whole
  batch, then for each task present the LoRA branch (shrink with A, expand with B) on that task's
  rows, added back with ``index_add_``.

A provider is ``(fn(x, task_ids) -> y, params)``; ``params`` are the tensors whose gradients a
forward+backward step produces (cleared before every step).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear, backends, reference

from .common import SETTINGS
from .names import BASELINE, COMPETITORS, MEASURED, TRITON_MEASURED, TRITON_SPLIT

Provider = Tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], List[torch.Tensor]]


def _timed(backend: str, device: torch.device) -> bool:
    """Whether a backend is a contender on ``device``: the reference (the oracle) and the
    emulated CUDA kernels are correctness tools, and triton on CPU is its interpreter."""
    return backend not in ("reference", "cuda_emu") and not (
        backend == "triton" and device.type == "cpu"
    )


def backend_providers(device: torch.device) -> List[str]:
    """The lorkd backends of the registry that run on ``device`` in this process."""
    return [name for name in backends.available_backends(device.type) if _timed(name, device)]


#: the providers timed next to a backend, run on it in another configuration
_VARIANTS = {"cpu": [MEASURED], "triton": [TRITON_SPLIT, TRITON_MEASURED]}


def available_providers(device: torch.device) -> List[str]:
    """Every provider for ``device``, narrowed by ``--bench-providers`` when given."""
    lorkd = backend_providers(device)
    for backend, variants in _VARIANTS.items():
        if backend in lorkd:
            at = lorkd.index(backend) + 1
            lorkd[at:at] = variants
    names = [BASELINE, *lorkd, *COMPETITORS]
    if SETTINGS.providers is not None:
        names = [n for n in names if n in SETTINGS.providers]
    return names


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


@contextlib.contextmanager
def _triton_measured() -> Iterator[None]:
    with backends.triton_strategy("auto"), backends.measuring():
        yield


#: what those, and triton itself, run inside
_CONTEXTS = {
    MEASURED: backends.measuring,
    "triton": lambda: backends.triton_strategy("fused"),
    TRITON_SPLIT: lambda: backends.triton_strategy("split"),
    TRITON_MEASURED: _triton_measured,
}


def provider_context(name: str) -> ContextManager:
    """What a provider's whole step (forward and backward) runs inside: measured conv choices
    for ``cpu_measured`` and ``triton_measured`` (the first call of a shape measures; the
    benchmark's warm-up takes it), the triton form for ``triton`` and ``triton_split``."""
    return _CONTEXTS.get(name, contextlib.nullcontext)()


def _backend_ops(name: str, device: torch.device):
    """Backend ``name``'s private ops (with their registered autograd), as every backend is timed:
    the same entry for each, whatever routes the public ops."""
    name = backend_of(name, device) or name
    if name not in backends.BACKENDS or backends.availability(name, device.type) is not None:
        raise ValueError(f"provider {name!r} is not available on {device}")
    return backends.explicit(name)


def _params(module: nn.Module) -> List[torch.Tensor]:
    return [p for p in module.parameters() if p.requires_grad]


def conv_provider(name: str, layer: EKSConv2d) -> Provider:
    """Provider ``name`` computing ``layer`` (symmetric zero padding, as in the real models)."""
    conf = (layer.stride, layer.padding, layer.dilation, layer.groups)
    if name == "plain":
        plain = layer.to_conv(0)
        return (lambda x, t: plain(x)), _params(plain)
    if name == "paper":
        return (
            lambda x, t: reference.eks_conv2d_paper(
                x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, *conf, layer.scaling
            )
        ), _params(layer)
    if name == "per_task_loop":
        base = lambda x: F.conv2d(x, layer.weight, layer.bias, *conf)  # noqa: E731
        return _per_task_loop(base, _lora_branch_conv, layer), _params(layer)
    ops = _backend_ops(name, layer.weight.device)
    return (
        lambda x, t: ops.eks_conv2d(
            x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, *conf, layer.scaling
        )
    ), _params(layer)


def linear_provider(name: str, layer: EKSLinear) -> Provider:
    if name == "plain":
        plain = layer.to_linear(0)
        return (lambda x, t: plain(x)), _params(plain)
    if name == "paper":
        return (
            lambda x, t: reference.eks_linear_paper(
                x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, layer.scaling
            )
        ), _params(layer)
    if name == "per_task_loop":
        base = lambda x: F.linear(x, layer.weight, layer.bias)  # noqa: E731
        return _per_task_loop(base, _lora_branch_linear, layer), _params(layer)
    ops = _backend_ops(name, layer.weight.device)
    return (
        lambda x, t: ops.eks_linear(
            x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, layer.scaling
        )
    ), _params(layer)


def backend_of(provider: str, device: torch.device) -> Optional[str]:
    """The lorkd backend a provider runs on, or None for plain / paper / per_task_loop."""
    for backend, variants in _VARIANTS.items():
        if provider in variants:
            return backend
    return provider if provider in backends.BACKENDS else None
