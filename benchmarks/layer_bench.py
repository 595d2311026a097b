"""One layer problem with one provider: setup, the timed step, and what goes into the JSON."""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear
from lorkd_kernels.task_plan import planned_on

from .common import SETTINGS, device_name
from .measure import Step, record_peak_memory, time_step
from .providers import backend_of, conv_provider, linear_provider, provider_context
from .scopes import LayerCase
from .task_mixes import task_ids as make_task_ids


def make_layer(case: LayerCase, device: torch.device) -> nn.Module:
    """The EKS layer of ``case``, with non-zero experts (B ~ N(0, 0.02)) so they take part."""
    torch.manual_seed(0)
    shape = case.shape
    if shape.kind == "conv":
        layer = EKSConv2d(
            shape.in_channels,
            shape.out_channels,
            shape.kernel,
            shape.stride,
            shape.padding,
            shape.dilation,
            shape.groups,
            shape.bias,
            device=device,
            num_tasks=case.num_tasks,
            rank=case.rank,
        )
    else:
        layer = EKSLinear(
            shape.in_channels,
            shape.out_channels,
            shape.bias,
            device=device,
            num_tasks=case.num_tasks,
            rank=case.rank,
        )
    nn.init.normal_(layer.lora_B, std=0.02)
    return layer.to(getattr(torch, case.dtype))


def make_inputs(case: LayerCase, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The input and the task ids, planned once (``lorkd_kernels.task_plan``) as a model's
    ``task_ids_context`` plans a batch: a layer inside a model never reads the ids itself."""
    shape = case.shape
    size = (
        (case.batch, shape.in_channels, shape.height, shape.width)
        if shape.kind == "conv"
        else (case.batch, shape.in_channels)
    )
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(size, generator=gen).to(device, getattr(torch, case.dtype))
    ids = planned_on(make_task_ids(case.mix, case.batch, case.num_tasks), device)
    return x, ids


def layer_step(case: LayerCase, provider: str, device: torch.device) -> Step:
    """A forward (under no_grad), or a forward and a backward from a fixed dense output gradient
    with every gradient cleared first so none accumulates; the latter's ``forward`` is its
    forward alone (autograd recording, as in training)."""
    layer = make_layer(case, device)
    make = conv_provider if case.shape.kind == "conv" else linear_provider
    fn, params = make(provider, layer)
    x, ids = make_inputs(case, device)
    if case.pass_ == "fwd":

        def forward() -> None:
            with torch.no_grad(), provider_context(provider):
                fn(x, ids)

        return Step(forward)
    x.requires_grad_(True)
    with torch.no_grad():
        grad_out = torch.randn_like(fn(x, ids))

    def clear() -> None:
        x.grad = None
        for p in params:
            p.grad = None

    def forward_backward() -> None:
        with provider_context(provider):
            fn(x, ids).backward(grad_out)

    def forward() -> None:
        with provider_context(provider):
            fn(x, ids)

    return Step(forward_backward, clear, forward=Step(forward, clear))


def case_info(case: LayerCase, provider: str, device: torch.device) -> Dict:
    """``benchmark.extra_info`` of a layer benchmark: everything the report groups by."""
    shape = case.shape
    return {
        "suite": "layer",
        "kind": shape.kind,
        "case": case.id,
        "shape": shape.name,
        "layers": len(shape.layers),
        "models": ",".join(shape.models),
        "image_size": case.image_size,
        "batch": case.batch,
        "rank": case.rank,
        "num_tasks": case.num_tasks,
        "mix": case.mix,
        "pass": case.pass_,
        "dtype": case.dtype,
        "setting": case.setting,
        "provider": provider,
        "backend": backend_of(provider, device),
        "device": device_name(device),
    }


def run_layer_benchmark(benchmark, case: LayerCase, provider: str) -> None:
    """Time ``provider`` on ``case``; the group is the case, so providers sit side by side."""
    device = SETTINGS.device
    benchmark.group = case.id
    time_step(
        benchmark, layer_step(case, provider, device), device, case_info(case, provider, device)
    )


def run_layer_memory(benchmark, case: LayerCase, provider: str) -> None:
    """Record the peak memory of one step of ``provider`` on ``case`` (``extra_info``)."""
    device = SETTINGS.device
    benchmark.group = f"memory {case.id}"
    record_peak_memory(
        benchmark, layer_step(case, provider, device), device, case_info(case, provider, device)
    )
