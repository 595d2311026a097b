"""The distinct Conv2d / Linear problems of the real student models, found by running them.

Each model is built from :mod:`lorkd_kernels.pipeline.models` and run once on a random batch with
forward hooks on every ``nn.Conv2d`` and ``nn.Linear``; the hooks record the layer's geometry and
the spatial size of its input. Layers with the same geometry and input size are one benchmark shape
(ResNet-18 has two identical 3x3 64->64 convs per block, ShuffleNetV2 repeats its units), and the
shape remembers which layers it stands for.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Sequence, Tuple

import torch
from torch import nn

from lorkd_kernels.pipeline.data.tasks import MEDMNIST_TASKS
from lorkd_kernels.pipeline.models import build_model

#: the students whose layers the layer suites measure
MODELS = ("shufflenet_v2_x1_0", "resnet18")
#: a single classifier over every MedMNIST task's labels: the students' only Linear that an EKS
#: conversion touches (per-task heads are task-specific already and are never converted)
LINEAR_CLASSES = sum(MEDMNIST_TASKS.values())


@dataclass(frozen=True)
class LayerShape:
    """One conv or linear problem: the layer's geometry plus its input's spatial size."""

    kind: str  # "conv" or "linear"
    in_channels: int
    out_channels: int
    kernel: Tuple[int, int] = (1, 1)
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = False
    height: int = 1
    width: int = 1
    #: "model@image size:module name" of every layer with this shape (not part of equality)
    layers: Tuple[str, ...] = field(default=(), compare=False, hash=False)

    @property
    def name(self) -> str:
        """Short readable id, e.g. ``conv3x3_64-128_s2@16`` or ``dw3x3_116_s2@8``."""
        if self.kind == "linear":
            return f"linear_{self.in_channels}-{self.out_channels}"
        kh, kw = self.kernel
        stride = f"_s{self.stride[0]}" if self.stride != (1, 1) else ""
        if self.groups == self.in_channels == self.out_channels and self.groups > 1:
            return f"dw{kh}x{kw}_{self.in_channels}{stride}@{self.height}"
        groups = f"_g{self.groups}" if self.groups > 1 else ""
        return f"conv{kh}x{kw}_{self.in_channels}-{self.out_channels}{stride}{groups}@{self.height}"

    @property
    def models(self) -> Tuple[str, ...]:
        return tuple(sorted({layer.split("@")[0] for layer in self.layers}))

    def make_conv(self, device=None) -> nn.Conv2d:
        return nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.bias,
            device=device,
        )

    def make_linear(self, device=None) -> nn.Linear:
        return nn.Linear(self.in_channels, self.out_channels, self.bias, device=device)


def _shape_of(module: nn.Module, x: torch.Tensor) -> LayerShape:
    if isinstance(module, nn.Conv2d):
        if not isinstance(module.padding, tuple) or module.padding_mode != "zeros":
            raise NotImplementedError(
                f"benchmark shapes assume symmetric zero padding, got "
                f"{module.padding!r} / {module.padding_mode!r}"
            )
        return LayerShape(
            "conv",
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            module.stride,
            module.padding,
            module.dilation,
            module.groups,
            module.bias is not None,
            x.shape[-2],
            x.shape[-1],
        )
    return LayerShape(
        "linear", module.in_features, module.out_features, bias=module.bias is not None
    )


@functools.lru_cache(maxsize=None)
def model_layer_shapes(model_name: str, image_size: int) -> Tuple[Tuple[str, LayerShape], ...]:
    """``(module name, shape)`` of every Conv2d/Linear of ``model_name`` on
    ``image_size``x``image_size`` RGB images, in execution order."""
    model = build_model(model_name, LINEAR_CLASSES).eval()
    seen: List[Tuple[str, LayerShape]] = []
    hooks = [
        module.register_forward_hook(
            lambda mod, args, out, name=name: seen.append((name, _shape_of(mod, args[0])))
        )
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size))
    finally:
        for hook in hooks:
            hook.remove()
    return tuple(seen)


def distinct_shapes(
    image_sizes: Iterable[int], kind: str, models: Sequence[str] = MODELS
) -> List[LayerShape]:
    """The distinct ``kind`` ("conv" or "linear") shapes of ``models`` over ``image_sizes``, in
    order of first appearance, each listing the layers it stands for."""
    layers: Dict[LayerShape, List[str]] = {}
    for size in image_sizes:
        for model_name in models:
            for name, shape in model_layer_shapes(model_name, size):
                if shape.kind == kind:
                    layers.setdefault(shape, []).append(f"{model_name}@{size}:{name}")
    return [dataclasses.replace(shape, layers=tuple(names)) for shape, names in layers.items()]


def shapes_of_layers(image_size: int, layer_names: Iterable[str]) -> List[LayerShape]:
    """The shapes of the named layers (``"model:module name"``) at ``image_size``."""
    found = []
    for layer in layer_names:
        model_name, _, module_name = layer.partition(":")
        shapes = dict(model_layer_shapes(model_name, image_size))
        if module_name not in shapes:
            raise KeyError(f"{model_name} has no Conv2d/Linear named {module_name!r}")
        found.append(
            dataclasses.replace(
                shapes[module_name], layers=(f"{model_name}@{image_size}:{module_name}",)
            )
        )
    return found
