"""Several peft LoRA adapters of one base model as one EKS model that serves a mixed batch.

peft serves a batch whose samples want different adapters (``adapter_names=``) by running the
base layer on the whole batch and then every adapter's LoRA branch on its own rows, adapter by
adapter. ``from_peft(peft_model, adapter_names)`` moves the same weights into EKS layers instead:
task ``t`` is ``adapter_names[t]``, and the fused ops run every sample's expert in one pass.

Adapters may differ in rank and scaling: the layer's rank is the largest (smaller experts are
padded with zero rows, which add nothing), and when scalings differ each ``B`` carries its own
(the layer's scaling is then 1). A linear module an adapter saves whole (``modules_to_save``, a
classifier head) becomes a :class:`~lorkd_kernels.nn.TaskHeads`. What EKS cannot hold (DoRA and
other LoRA variants, LoRA biases, grouped/dilated convs, other modules saved whole, other peft
tuners) stops the import with the module's name.
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union, cast

import torch
from torch import nn

from ._peft_layout import TESTED_PEFT, from_peft_factors, not_lora_representable
from ..conversion import _replace
from ..nn import EKSConv2d, EKSLinear, TaskHeads
from ..routing import TaskRouter


def _peft_classes():
    try:
        from peft.tuners.lora import LoraLayer
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import ModulesToSaveWrapper
    except ImportError as err:
        raise ImportError(
            f"from_peft needs peft (tested: peft{TESTED_PEFT}): pip install 'lorkd_kernels[peft]'"
        ) from err
    return LoraLayer, BaseTunerLayer, ModulesToSaveWrapper


# peft is optional, so its layers are typed as the nn.Modules they are and the attributes peft
# gives them are cast where they are read.
def _base_layer(layer: nn.Module) -> nn.Module:
    """The conv / linear layer a peft LoRA layer wraps."""
    return cast(Callable[[], nn.Module], layer.get_base_layer)()


def _adapter_names(peft_model: nn.Module, adapter_names: Optional[Sequence[str]]) -> List[str]:
    known = list(getattr(peft_model, "peft_config", {}))
    if not known or not hasattr(peft_model, "get_base_model"):
        raise TypeError(f"from_peft expects a peft.PeftModel, got {type(peft_model).__name__}")
    names = known if adapter_names is None else list(adapter_names)
    unknown = [n for n in names if n not in known]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"adapter_names {names!r}: expected distinct names among the model's adapters {known}"
        )
    return names


def _lora_experts(
    name: str, layer: nn.Module, names: Sequence[str]
) -> Tuple[List[Optional[Tuple[torch.Tensor, torch.Tensor]]], List[float]]:
    """Each task's ``(A, B)`` (None where its adapter skips the layer) and scaling."""
    base = _base_layer(layer)
    if type(base) not in (nn.Conv2d, nn.Linear):
        raise ValueError(
            f"{name}: peft LoRA on a {type(base).__name__}; EKS layers replace "
            f"nn.Conv2d and nn.Linear only"
        )
    reason = not_lora_representable(base)
    if reason is not None:
        raise ValueError(
            f"{name}: {reason}, unlike an EKS expert; leave it out of the adapters' target_modules"
        )
    if getattr(layer, "fan_in_fan_out", False):
        raise ValueError(f"{name}: fan_in_fan_out LoRA (transposed weights) is not supported")
    merged = list(getattr(layer, "merged_adapters", ()))
    if merged:  # the base weight then holds them: imported, they would count twice
        raise ValueError(
            f"{name}: adapter(s) {merged} are merged into the base weights; call "
            f"the peft model's unmerge_adapter() first"
        )
    experts: List[Optional[Tuple[torch.Tensor, torch.Tensor]]] = []
    scalings: List[float] = []
    for adapter in names:
        lora_A = cast(nn.ModuleDict, layer.lora_A)  # per adapter, a linear or conv layer
        if adapter not in lora_A:
            experts.append(None)
            scalings.append(1.0)
            continue
        variant = adapter in getattr(layer, "lora_variant", {})
        if variant or cast(Dict[str, bool], layer.use_dora).get(adapter, False):
            raise ValueError(
                f"{name}: adapter {adapter!r} is a LoRA variant (e.g. DoRA), not plain LoRA"
            )
        lora_B = cast(nn.ModuleDict, layer.lora_B)
        if lora_B[adapter].bias is not None:
            raise ValueError(f"{name}: adapter {adapter!r} has a LoRA bias (lora_bias=True)")
        a = cast(torch.Tensor, lora_A[adapter].weight)
        b = cast(torch.Tensor, lora_B[adapter].weight)
        experts.append(from_peft_factors(a.detach(), b.detach()))
        scalings.append(float(cast(Dict[str, float], layer.scaling)[adapter]))
    return experts, scalings


def eks_from_lora(name: str, layer: nn.Module, names: Sequence[str]) -> nn.Module:
    """The EKS layer holding each adapter's expert of one peft LoRA layer (task t = names[t]);
    the plain base layer when none of these adapters adapts it."""
    experts, scalings = _lora_experts(name, layer, names)
    chosen = {i: e for i, e in enumerate(experts) if e is not None}
    present = list(chosen)
    base = _base_layer(layer)
    if not present:  # only adapters left out adapt this layer
        return copy.deepcopy(base).train(layer.training)
    rank = max(chosen[i][0].shape[0] for i in present)
    same = len({scalings[i] for i in present}) == 1
    scaling = scalings[present[0]] if same else 1.0
    eks: Union[EKSConv2d, EKSLinear]
    if isinstance(base, nn.Conv2d):
        eks = EKSConv2d.from_conv(base, len(names), rank, alpha=scaling * rank)
    else:  # the other type _lora_experts accepts
        eks = EKSLinear.from_linear(cast(nn.Linear, base), len(names), rank, alpha=scaling * rank)
    eks.scaling = scaling  # exactly peft's value (alpha / rank may round)
    with torch.no_grad():
        eks.lora_A.zero_()
        eks.lora_B.zero_()
        for task in present:
            a, b = chosen[task]
            eks.lora_A[task, : a.shape[0]] = a
            # different scalings: each B carries its own, the layer's is 1
            eks.lora_B[task, :, : b.shape[1]] = b if same else b * scalings[task]
    return eks.train(layer.training)


def heads_from_saved(name: str, wrapper: nn.Module, names: Sequence[str]) -> TaskHeads:
    """A :class:`TaskHeads` from a linear module the adapters save whole (their own copies,
    the base module for adapters without one)."""
    original = cast(nn.Module, wrapper.original_module)
    if type(original) is not nn.Linear:
        raise ValueError(
            f"{name}: the adapters save this {type(original).__name__} whole "
            f"(modules_to_save); EKS holds only linear heads that way"
        )
    saved_copies = cast(nn.ModuleDict, wrapper.modules_to_save)
    copies = [saved_copies[n] if n in saved_copies else original for n in names]
    heads = TaskHeads(
        original.in_features,
        [original.out_features] * len(names),
        original.bias is not None,
        device=original.weight.device,
        dtype=original.weight.dtype,
    )
    with torch.no_grad():
        for head, saved in zip(heads.heads, copies):
            head.load_state_dict(saved.state_dict())
    return heads.train(wrapper.training)


def from_peft(
    peft_model: nn.Module, adapter_names: Optional[Sequence[str]] = None, *, sort: bool = True
) -> TaskRouter:
    """One EKS model holding the LoRA adapters ``adapter_names`` (default: all) of a
    ``peft.PeftModel``; task ``t`` is ``adapter_names[t]``.

    ``model(x, task_ids)`` then computes, for sample ``n``, what ``peft_model`` computes with
    adapter ``adapter_names[task_ids[n]]`` (``peft_model(x, adapter_names=[...])``).
    ``peft_model`` is not changed. Returns a :class:`~lorkd_kernels.TaskRouter` (``sort`` as in
    :func:`~lorkd_kernels.convert`).
    """
    LoraLayer, BaseTunerLayer, ModulesToSaveWrapper = _peft_classes()
    names = _adapter_names(peft_model, adapter_names)
    inner = cast(Callable[[], nn.Module], peft_model.get_base_model)()
    replacements: Dict[str, nn.Module] = {}
    for name, module in inner.named_modules():
        if any(name.startswith(done + ".") for done in replacements):
            continue  # inside a module already rebuilt
        if isinstance(module, LoraLayer):
            replacements[name] = eks_from_lora(name, module, names)
        elif isinstance(module, ModulesToSaveWrapper):
            replacements[name] = heads_from_saved(name, module, names)
        elif isinstance(module, BaseTunerLayer):
            raise ValueError(
                f"{name}: a {type(module).__name__} layer is not LoRA; from_peft "
                f"reads LoRA adapters only"
            )
    if not replacements:
        raise ValueError("the peft model has no LoRA layer to import")
    # Deep-copy everything but the peft layers, which are rebuilt as EKS modules.
    memo = {id(inner.get_submodule(name)): None for name in replacements}
    model = copy.deepcopy(inner, memo)
    for name, module in replacements.items():
        _replace(model, name, module)
    if hasattr(model, "peft_config"):
        del model.peft_config  # peft's bookkeeping on the base model
    return TaskRouter(model, sort=sort)
