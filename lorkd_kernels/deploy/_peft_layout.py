"""Where peft's LoRA layout and the EKS layers meet, and where they part.

Both apply ``W + s·B A`` with the conv weight matricized as ``(C_out, C_in·kh·kw)``: EKS keeps
``lora_A[t] (r, K)`` and ``lora_B[t] (C_out, r)``; peft keeps a conv ``lora_A`` with weight
``(r, C_in, kh, kw)`` (same stride and padding as the layer) and a 1×1 conv ``lora_B`` with weight
``(C_out, r, 1, 1)`` (linear layers: the same matrices), so one is a reshape of the other. peft's
scaling is ``lora_alpha / r`` (``lora_alpha / sqrt(r)`` with rsLoRA).

Convolutions peft computes differently (checked against peft 0.21): with ``groups > 1`` its
``lora_A`` reads every input channel and its ``lora_B`` is grouped, while an EKS expert's ``A``
reads one group's channels; its ``lora_A`` drops the layer's dilation and padding mode. Such
layers have no LoRA equivalent either way and are reported, never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple, Union

import torch
from torch import nn

if TYPE_CHECKING:
    from ..nn import EKSConv2d, EKSLinear

#: where peft's saved adapter files put the model's own module names
PEFT_KEY_PREFIX = "base_model.model."
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
#: the peft releases the bridge is tested against (pyproject's ``peft`` extra)
TESTED_PEFT = ">=0.21,<0.22"


def lora_key(module_name: str, factor: str) -> str:
    """The key of ``lora_A`` / ``lora_B`` (``factor``: "A" or "B") in an adapter file."""
    return f"{PEFT_KEY_PREFIX}{module_name}.lora_{factor}.weight"


def not_lora_representable(layer: nn.Module) -> Optional[str]:
    """Why peft's LoRA cannot hold an expert of this conv/linear layer, or None if it can."""
    if not isinstance(layer, nn.Conv2d):
        return None
    if layer.groups != 1:
        kind = "depthwise" if layer.groups == layer.in_channels == layer.out_channels else "grouped"
        return f"{kind} conv (groups={layer.groups}): peft's LoRA A reads every input channel there"
    if tuple(layer.dilation) != (1, 1):
        return f"dilated conv (dilation={tuple(layer.dilation)}): peft's LoRA A ignores it"
    if layer.padding_mode != "zeros":
        return f"padding_mode={layer.padding_mode!r}: peft's LoRA A pads with zeros"
    return None


def to_peft_factors(
    layer: Union[EKSConv2d, EKSLinear], task: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Task ``task``'s expert of an EKS layer as peft's ``lora_A`` / ``lora_B`` weights."""
    a, b = layer.lora_A[task].detach(), layer.lora_B[task].detach()
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        a = a.reshape(layer.rank, layer.in_channels, kh, kw)
        b = b.reshape(layer.out_channels, layer.rank, 1, 1)
    return a.contiguous(), b.contiguous()


def from_peft_factors(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """peft's ``lora_A`` / ``lora_B`` weights as an EKS expert's ``A (r, K)`` and ``B (out, r)``."""
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
