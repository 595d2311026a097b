"""A trained student's experts as peft LoRA adapters, one per task.

``export_peft_adapters(student, directory, task_names)`` writes::

    directory/base_model.safetensors          the shared weights W0 (and buffers), no heads
    directory/<task>/adapter_config.json      peft's LoRA config
    directory/<task>/adapter_model.safetensors that task's experts and head

``peft.PeftModel.from_pretrained(peft_base_model(student, t), directory/<task>)`` then computes
what ``decompose(student, t)`` computes. Per-task heads are not low-rank: they travel in each
adapter as peft's ``modules_to_save`` (a full copy of the head, loaded over the base's). Layers
whose experts LoRA cannot hold (``lorkd_kernels._peft_layout``: grouped, depthwise, dilated or
non-zero-padded convs) stop the export with their names, unless ``unsupported="full"`` carries
their merged per-task weights in ``modules_to_save`` too. Writing needs only ``safetensors``;
loading the adapters needs ``peft``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union, cast

import torch
from torch import nn

from ._peft_layout import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    PEFT_KEY_PREFIX,
    lora_key,
    not_lora_representable,
    to_peft_factors,
)
from ..conversion import EKS_LAYERS, _task_count, _unwrap, decompose
from ..nn import EKSConv2d, EKSLinear, TaskHeads
from .weights_file import load_state, read_weights, save_weights

PathLike = Union[str, os.PathLike]
BASE_WEIGHTS = "base_model.safetensors"
UNSUPPORTED = ("error", "full")
_TASK_NAME = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class PeftExport:
    """What :func:`export_peft_adapters` wrote and how each task-specific module travels."""

    directory: Path
    base: Path
    #: task name → its adapter folder (what ``PeftModel.from_pretrained`` takes)
    adapters: Dict[str, Path]
    #: modules whose experts are LoRA factors in the adapters
    lora_modules: List[str]
    #: per-task heads, saved whole (``modules_to_save``)
    head_modules: List[str]
    #: modules LoRA cannot hold → why; with ``unsupported="full"`` saved whole, merged per task
    full_modules: Dict[str, str] = field(default_factory=dict)


def peft_base_model(model: nn.Module, task: int = 0) -> nn.Module:
    """The plain model the exported adapters load onto: shared weights, no experts, and the head
    of ``task`` (only its shape matters: every adapter brings its own head)."""
    inner = copy.deepcopy(_unwrap(model))
    with torch.no_grad():
        for module in inner.modules():
            if isinstance(module, EKS_LAYERS):
                module.lora_B.zero_()
    return decompose(inner, task)


def _task_names(task_names: Optional[Sequence[str]], num_tasks: int) -> List[str]:
    names = [f"task{t}" for t in range(num_tasks)] if task_names is None else list(task_names)
    if len(names) != num_tasks:
        raise ValueError(f"task_names lists {len(names)} names for a model with {num_tasks} tasks")
    bad = [n for n in names if not isinstance(n, str) or not _TASK_NAME.fullmatch(n)]
    if bad:
        raise ValueError(
            f"task_names {bad!r}: each name becomes a folder and a peft adapter "
            f"name, so it may hold only letters, digits, '_' and '-'"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"task_names must be distinct, got {names!r}")
    return names


def _split_modules(inner: nn.Module, unsupported: str):
    """``(lora, heads, full)``: the task-specific modules by how they travel."""
    if unsupported not in UNSUPPORTED:
        raise ValueError(f"unsupported must be one of {UNSUPPORTED}, got {unsupported!r}")
    lora, heads, full = [], [], {}
    for name, module in inner.named_modules():
        if isinstance(module, TaskHeads):
            if not name:
                raise ValueError("the model is a bare TaskHeads: there is nothing to adapt")
            heads.append(name)
        elif isinstance(module, EKS_LAYERS):
            reason = not_lora_representable(module)
            if reason is None:
                lora.append(name)
            else:
                full[name] = reason
    if full and unsupported == "error":
        listed = "; ".join(f"{n}: {why}" for n, why in list(full.items())[:3])
        more = f" (and {len(full) - 3} more)" if len(full) > 3 else ""
        raise ValueError(
            f"peft's LoRA cannot hold the experts of {len(full)} layers: {listed}"
            f"{more}. Pass unsupported='full' to save their merged per-task weights "
            f"whole (peft modules_to_save), or convert with experts_on='dense'"
        )
    if not lora:
        raise ValueError("the model has no EKS layer peft's LoRA can hold; convert it first")
    return lora, heads, full


def _eks_layer(inner: nn.Module, name: str) -> Union[EKSConv2d, EKSLinear]:
    """The module ``name``, one of the EKS layers the export chose for peft's LoRA."""
    return cast(Union[EKSConv2d, EKSLinear], inner.get_submodule(name))


def _alpha(layer: Union[EKSConv2d, EKSLinear]):
    """peft's ``lora_alpha`` giving the layer's scaling: ``scaling · rank``."""
    alpha = layer.scaling * layer.rank
    return int(round(alpha)) if abs(alpha - round(alpha)) < 1e-9 else alpha


def _exact(name: str) -> str:
    # peft matches rank/alpha pattern keys as "(.*\.)?(key)$": the anchor stops a key for
    # "conv1" from also matching "layer1.0.conv1".
    return "^" + re.escape(name)


def adapter_config(inner: nn.Module, lora: Sequence[str], modules_to_save: Sequence[str]) -> dict:
    """peft's LoRA config for these modules: the most common rank and alpha, exceptions as
    ``rank_pattern`` / ``alpha_pattern``, targets matched by exact name."""
    layers = {name: _eks_layer(inner, name) for name in lora}
    rank, alpha = Counter((m.rank, _alpha(m)) for m in layers.values()).most_common(1)[0][0]
    return {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": None,
        "r": rank,
        "lora_alpha": alpha,
        "use_rslora": False,
        "use_dora": False,
        "rank_pattern": {_exact(n): m.rank for n, m in layers.items() if m.rank != rank},
        "alpha_pattern": {_exact(n): _alpha(m) for n, m in layers.items() if _alpha(m) != alpha},
        # a string is matched with re.fullmatch against each module's full name
        "target_modules": "(?:" + "|".join(re.escape(n) for n in lora) + ")",
        "modules_to_save": list(modules_to_save) or None,
        "lora_dropout": 0.0,
        "bias": "none",
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "inference_mode": True,
    }


def _check_saved_names(base: nn.Module, modules_to_save: Sequence[str]) -> None:
    # peft wraps every module whose name ends with a modules_to_save entry.
    names = [n for n, _ in base.named_modules()]
    clashes = [
        (n, other) for n in modules_to_save for other in names if other != n and other.endswith(n)
    ]
    if clashes:
        raise ValueError(
            f"peft would also replace {clashes[0][1]!r} by the saved copy of "
            f"{clashes[0][0]!r} (it matches modules_to_save by name suffix); "
            f"rename one of them before exporting"
        )


def adapter_state(
    inner: nn.Module, task: int, lora: Sequence[str], whole: Sequence[str]
) -> Dict[str, torch.Tensor]:
    """Task ``task``'s adapter weights under peft's saved names."""
    state = {}
    for name in lora:
        a, b = to_peft_factors(_eks_layer(inner, name), task)
        state[lora_key(name, "A")], state[lora_key(name, "B")] = a, b
    for name in whole:
        module = inner.get_submodule(name)
        plain = module.heads[task] if isinstance(module, TaskHeads) else decompose(module, task)
        for key, value in plain.state_dict().items():
            state[f"{PEFT_KEY_PREFIX}{name}.{key}"] = value
    return state


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def export_peft_adapters(
    model: nn.Module,
    directory: PathLike,
    task_names: Optional[Sequence[str]] = None,
    *,
    unsupported: str = "error",
) -> PeftExport:
    """Write every task's experts of ``model`` (a converted student) as a peft LoRA adapter.

    ``task_names`` names the adapter folders and peft adapter names (default ``task0``, ...).
    ``unsupported``: ``"error"`` (default) refuses layers LoRA cannot hold, naming them;
    ``"full"`` saves their merged per-task weights whole. Returns a :class:`PeftExport`.
    """
    inner = _unwrap(model)
    num_tasks = _task_count(inner)
    if num_tasks is None:
        raise ValueError("the model has no EKS layers or task heads; convert it first")
    names = _task_names(task_names, num_tasks)
    lora, heads, full = _split_modules(inner, unsupported)
    whole = heads + list(full)
    base = peft_base_model(inner)
    _check_saved_names(base, whole)
    config = adapter_config(inner, lora, whole)

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    head_keys = {f"{h}.{k}" for h in heads for k in base.get_submodule(h).state_dict()}
    base_path = save_weights(
        {k: v for k, v in base.state_dict().items() if k not in head_keys},
        directory / BASE_WEIGHTS,
        {"format": "pt", "heads": json.dumps(heads), "tasks": json.dumps(names)},
    )
    adapters = {}
    for task, name in enumerate(names):
        folder = directory / name
        folder.mkdir(exist_ok=True)
        save_weights(
            adapter_state(inner, task, lora, whole), folder / ADAPTER_WEIGHTS, {"format": "pt"}
        )
        _write_json(folder / ADAPTER_CONFIG, config)
        adapters[name] = folder
    return PeftExport(directory, base_path, adapters, lora, heads, full)


def load_peft_base(plain: nn.Module, directory: PathLike) -> nn.Module:
    """Fill ``plain`` (the student's architecture with one task's head) with the shared weights
    of an export; the head keeps its values, since each adapter brings its own. Returns it."""
    path = Path(directory) / BASE_WEIGHTS
    state, metadata = read_weights(path)
    heads = json.loads(metadata.get("heads", "[]"))
    may_lack = {
        f"{h}.{k}"
        for h in heads
        if _has_module(plain, h)
        for k in plain.get_submodule(h).state_dict()
    }
    return load_state(plain, state, path, may_lack)


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True
