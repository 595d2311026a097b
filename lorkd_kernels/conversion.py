"""Turn any model into a LoRKD student, and each task's expert back into a plain model.

``convert`` swaps ``nn.Conv2d`` / ``nn.Linear`` modules for EKS layers (weights kept, experts
starting at zero, so the converted model computes what the original did) and wraps the model in a
:class:`~lorkd_kernels.routing.TaskRouter`. ``decompose`` merges one task's experts into the shared
weights and keeps that task's head: the result contains no lorkd module and its state dict loads
into the original architecture. ``switch_task`` moves a merged model from one task to another in
place.
"""

from __future__ import annotations

import copy
import warnings
from typing import Callable, Iterable, Optional, Union, cast

import torch
from torch import nn

from .nn import EKSConv2d, EKSLinear, TaskHeads
from .nn._lora import check_task_index
from .routing import TaskRouter

EKS_LAYERS = (EKSConv2d, EKSLinear)
TASK_MODULES = (EKSConv2d, EKSLinear, TaskHeads)
EXPERTS_ON = ("all", "dense")

ModuleFilter = Callable[[str, nn.Module], bool]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.model if isinstance(model, TaskRouter) else model


def _include_filter(
    include: Union[str, Iterable[str], ModuleFilter], experts_on: str
) -> ModuleFilter:
    if experts_on not in EXPERTS_ON:
        raise ValueError(f"experts_on must be one of {EXPERTS_ON}, got {experts_on!r}")
    if callable(include):
        chosen = include
    else:
        kinds = _kinds(include)
        unknown = kinds - {"conv", "linear"}
        if unknown:
            raise ValueError(
                f"include takes 'conv' and/or 'linear' (or a callable(name, "
                f"module) -> bool), got {sorted(unknown)}"
            )

        def chosen(name: str, module: nn.Module) -> bool:
            return ("conv" in kinds and type(module) is nn.Conv2d) or (
                "linear" in kinds and type(module) is nn.Linear
            )

    def accept(name: str, module: nn.Module) -> bool:
        if type(module) not in (nn.Conv2d, nn.Linear) or not chosen(name, module):
            return False
        # The paper's code puts experts only on dense convs (no depthwise/grouped ones).
        return experts_on == "all" or getattr(module, "groups", 1) == 1

    return accept


def _kinds(include: Union[str, Iterable[str]]) -> set:
    return {include} if isinstance(include, str) else set(include)


def _kind_filter(include: Union[str, Iterable[str], ModuleFilter]) -> ModuleFilter:
    """Whether a module of any Conv2d / Linear type would be chosen by ``include``."""
    if callable(include):
        return include
    kinds = _kinds(include)
    return lambda name, module: (
        ("conv" in kinds and isinstance(module, nn.Conv2d))
        or ("linear" in kinds and isinstance(module, nn.Linear))
    )


# Hooks a converted module would lose (its replacement is a new module).
_HOOK_TABLES = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
)


def _check_convertible(inner: nn.Module, targets, head_members, accept_kind) -> None:
    """Refuse, naming them, chosen modules whose hooks would be lost and lazy modules not yet
    materialised; warn about Conv2d / Linear modules of other types (parametrized, e.g. by
    weight_norm, or subclassed), which stay unconverted."""
    hooked = [
        name
        for name, module in targets
        if any(getattr(module, table, None) for table in _HOOK_TABLES)
    ]
    if hooked:
        raise ValueError(
            f"convert would drop the hooks of {hooked}: remove them and register "
            f"them on the converted model's layers instead"
        )
    others = [
        (name, module)
        for name, module in inner.named_modules()
        if id(module) not in head_members
        and isinstance(module, (nn.Conv2d, nn.Linear))
        and type(module) not in (nn.Conv2d, nn.Linear)
        and not isinstance(module, EKS_LAYERS)
        and accept_kind(name, module)
    ]
    lazy = [
        name
        for name, module in others
        if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params()
    ]
    if lazy:
        raise ValueError(
            f"convert cannot give experts to lazy modules not yet materialised: "
            f"{lazy}; run one forward pass first"
        )
    if others:
        warnings.warn(
            f"convert leaves {[name for name, _ in others]} without experts: only "
            f"exactly nn.Conv2d / nn.Linear modules are converted (remove a "
            f"parametrization such as weight_norm first)",
            stacklevel=3,
        )


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _task_count(model: nn.Module) -> Optional[int]:
    counts = {m.num_tasks for m in model.modules() if isinstance(m, TASK_MODULES)}
    if len(counts) > 1:
        raise ValueError(
            f"the model's task-specific layers disagree on the number of tasks: {sorted(counts)}"
        )
    return counts.pop() if counts else None


def convert(
    model: nn.Module,
    num_tasks: int,
    rank: int = 4,
    alpha: Optional[float] = None,
    *,
    include: Union[str, Iterable[str], ModuleFilter] = ("conv", "linear"),
    experts_on: str = "all",
    sort: bool = True,
) -> TaskRouter:
    """Replace the chosen ``nn.Conv2d`` / ``nn.Linear`` modules of ``model`` (in place) with
    EKS layers holding ``num_tasks`` experts of rank ``rank`` (``scaling = alpha / rank``).

    ``include``: ``"conv"``, ``"linear"``, both (default) or ``callable(name, module) -> bool``.
    ``experts_on="dense"`` reproduces the paper's code: no experts on grouped/depthwise convs.
    Linears inside :class:`~lorkd_kernels.nn.TaskHeads` are task-specific already and stay.
    A ``ValueError`` if the result would hold no EKS layer (nothing selected, nothing converted
    before); a model converted before is returned as it is.
    Returns a :class:`TaskRouter` whose ``forward(x, task_ids)`` routes the ids to every layer
    (sorting the batch by task once when ``sort``).
    """
    inner = _unwrap(model)
    existing = _task_count(inner)
    if existing is not None and existing != num_tasks:
        raise ValueError(
            f"the model already has {existing} tasks (EKS layers or task heads), "
            f"cannot convert it for {num_tasks}"
        )
    accept = _include_filter(include, experts_on)
    head_members = {
        id(m) for heads in inner.modules() if isinstance(heads, TaskHeads) for m in heads.modules()
    }
    targets = [
        (name, module)
        for name, module in inner.named_modules()
        if id(module) not in head_members and accept(name, module)
    ]
    if not targets and not any(isinstance(m, EKS_LAYERS) for m in inner.modules()):
        # A model without experts would compute the same for every task id, silently.
        raise ValueError(
            f"convert found nothing to convert: no nn.Conv2d / nn.Linear module "
            f"(exactly those types, outside TaskHeads) is selected by include="
            f"{include!r} with experts_on={experts_on!r}"
        )
    _check_convertible(inner, targets, head_members, accept_kind=_kind_filter(include))
    for name, module in targets:
        new: Union[EKSConv2d, EKSLinear]
        if isinstance(module, nn.Conv2d):
            new = EKSConv2d.from_conv(module, num_tasks, rank, alpha)
        else:
            new = EKSLinear.from_linear(module, num_tasks, rank, alpha)
        new.train(module.training)
        # A frozen weight or bias stays frozen; the experts are what the student trains.
        new.weight.requires_grad_(module.weight.requires_grad)
        if module.bias is not None:  # then new was built with a bias too
            cast(torch.Tensor, new.bias).requires_grad_(module.bias.requires_grad)
        _replace(inner, name, new)
    return model if isinstance(model, TaskRouter) else TaskRouter(inner, sort=sort)


def _plain_module(module: nn.Module, task: int) -> nn.Module:
    plain: nn.Module
    if isinstance(module, EKSConv2d):
        plain = module.to_conv(task)
    elif isinstance(module, EKSLinear):
        plain = module.to_linear(task)
    else:  # callers pass TASK_MODULES only: a TaskHeads
        plain = copy.deepcopy(cast(TaskHeads, module).heads[task])
    return plain.train(module.training)


def decompose(model: nn.Module, task: int) -> nn.Module:
    """A plain copy of ``model`` for one task: experts merged, that task's head kept.

    No lorkd module is left inside; ``model`` itself is not changed. The copy is called like the
    original architecture (``plain(x)``), and its ``state_dict`` loads into it with strict=True.
    """
    inner = _unwrap(model)
    num_tasks = _task_count(inner)
    if num_tasks is None:
        raise ValueError("the model has no EKS layers or task heads to decompose; convert it first")
    check_task_index(task, num_tasks)
    task_modules = [name for name, m in inner.named_modules() if isinstance(m, TASK_MODULES)]
    if "" in task_modules:
        return _plain_module(inner, task)
    # Deep-copy everything but the task-specific modules, which are rebuilt plain below.
    memo = {id(inner.get_submodule(name)): None for name in task_modules}
    plain = copy.deepcopy(inner, memo)
    for name in task_modules:
        _replace(plain, name, _plain_module(inner.get_submodule(name), task))
    return plain


@torch.no_grad()
def switch_task(merged: nn.Module, model: nn.Module, from_task: int, to_task: int) -> nn.Module:
    """Move ``merged`` (``decompose(model, from_task)``) to ``to_task`` in place: every merged
    weight gets ``s·B_to A_to − s·B_from A_from`` added and the head is swapped. Returns it."""
    inner = _unwrap(model)
    num_tasks = _task_count(inner)
    if num_tasks is None:
        raise ValueError("model has no EKS layers or task heads")
    check_task_index(from_task, num_tasks)
    check_task_index(to_task, num_tasks)
    for name, module in inner.named_modules():
        if not isinstance(module, TASK_MODULES):
            continue
        try:
            target = merged.get_submodule(name) if name else merged
        except AttributeError as err:
            raise ValueError(
                f"the merged model has no module {name!r}: it was not decomposed from this model"
            ) from err
        if isinstance(module, TaskHeads):
            if name:
                _replace(merged, name, _plain_module(module, to_task))
            else:
                raise ValueError("cannot switch a bare TaskHeads in place; use decompose")
            continue
        weight = cast(torch.Tensor, target.weight)  # a merged layer: a plain conv / linear
        if weight.shape != module.weight.shape:
            raise ValueError(
                f"module {name!r}: merged weight {tuple(weight.shape)} "
                f"does not match the EKS layer's {tuple(module.weight.shape)}"
            )
        change = module.expert_delta(to_task) - module.expert_delta(from_task)
        weight.add_(change.to(weight.dtype))
    return merged
