"""A converted model computed with the paper's formulation instead of a lorkd backend.

:func:`paper_formulation` swaps every ``EKSConv2d`` / ``EKSLinear`` of a converted model for a
module that runs :func:`lorkd_kernels.reference.eks_conv2d_paper` (``eks_linear_paper``) on the
same parameters, so the model-level suite can time the official code's cost on exactly the
network the library trains.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lorkd_kernels import EKSConv2d, EKSLinear, reference
from lorkd_kernels.nn._lora import as_task_ids


class PaperConv2d(nn.Module):
    """``layer``'s function through the per-sample-weight, ``groups = N`` convolution."""

    def __init__(self, layer: EKSConv2d) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, task_ids=None) -> torch.Tensor:
        layer = self.layer
        task_ids = as_task_ids(task_ids, x)
        x, padding = layer._op_padding_and_input(x)
        return reference.eks_conv2d_paper(
            x,
            layer.weight,
            layer.bias,
            layer.lora_A,
            layer.lora_B,
            task_ids,
            layer.stride,
            padding,
            layer.dilation,
            layer.groups,
            layer.scaling,
        )


class PaperLinear(nn.Module):
    """``layer``'s function through per-sample weights and one batched matmul."""

    def __init__(self, layer: EKSLinear) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor, task_ids=None) -> torch.Tensor:
        layer = self.layer
        return reference.eks_linear_paper(
            x,
            layer.weight,
            layer.bias,
            layer.lora_A,
            layer.lora_B,
            as_task_ids(task_ids, x),
            layer.scaling,
        )


def paper_formulation(model: nn.Module) -> nn.Module:
    """A deep copy of the converted ``model`` whose EKS layers run the paper's formulation."""
    model = copy.deepcopy(model)
    swaps = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, (EKSConv2d, EKSLinear))
    ]
    for name, module in swaps:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        wrapper = PaperConv2d if isinstance(module, EKSConv2d) else PaperLinear
        setattr(parent, child, wrapper(module))
    return model
