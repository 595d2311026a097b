"""Load pretrained backbone weights into a model of this package, whatever the head.

Checkpoints come wrapped (``{"state_dict": ...}`` from training loops, ``{"model": ...}``) and
prefixed (``module.`` from DataParallel, ``backbone.``/``encoder.``/``model.`` from wrappers),
sometimes with the backbone flattened into an ``nn.Sequential`` of its children, and their
classifier is for another label space, or absent ("notop" weights such as RadImageNet's).
:func:`load_backbone` undoes the wrapping, prefixes and flattening, ignores the ``fc`` head on
both sides and then insists that everything else matches exactly: a backbone that silently keeps
random weights is the mistake this module exists to catch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import torch
from torch import nn

#: containers that training loops put the state dict in, tried in this order
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net")
#: prefixes that wrappers add to every parameter name
KEY_PREFIXES = ("module.", "backbone.", "model.", "encoder.")
#: the classifier, which is task specific and never part of the backbone
HEAD_PREFIXES = ("fc.",)
#: BatchNorm's step counter: absent from old checkpoints and unused by the default momentum
OPTIONAL_SUFFIXES = ("num_batches_tracked",)
#: how many keys an error message lists before it just counts the rest
MAX_LISTED = 10

Source = Union[str, "os.PathLike[str]", Mapping[str, Any]]


class PretrainedWeightsError(ValueError):
    """A checkpoint cannot be read, or does not fit the model's backbone."""


@dataclass(frozen=True)
class BackboneLoad:
    """What :func:`load_backbone` did: the model keys it filled, and the checkpoint keys it
    skipped because they belong to the head."""

    loaded: Tuple[str, ...]
    skipped_head: Tuple[str, ...]


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown}, ... and {more} more" if more > 0 else shown


def _read(source: Source) -> Tuple[Any, str]:
    """The loaded object and how to name it in errors."""
    if isinstance(source, Mapping):
        return source, "the given state dict"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a checkpoint path or a state dict, got {type(source).__name__}"
        )
    name = f"checkpoint {os.fspath(source)!r}"
    if not os.path.isfile(source):
        raise PretrainedWeightsError(f"{name}: no such file")
    try:
        # weights_only: a checkpoint is data, and unpickling arbitrary objects runs their code
        return torch.load(source, map_location="cpu", weights_only=True), name
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise PretrainedWeightsError(
            f"{name} cannot be read as a PyTorch checkpoint ({type(error).__name__}: {error})"
        ) from error


def _unwrap(obj: Any, name: str) -> Dict[str, torch.Tensor]:
    """The state dict inside the common training-loop containers."""
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        raise PretrainedWeightsError(f"{name} holds no state dict (found {type(obj).__name__})")
    if not obj:
        raise PretrainedWeightsError(f"{name} is an empty state dict")
    non_tensors = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise PretrainedWeightsError(
            f"{name} is not a state dict: entries that are not tensors: {_listing(non_tensors)}"
        )
    return dict(obj)


def _model_key(key: str, model_keys: Mapping[str, Any], child_names: Sequence[str]) -> str:
    """The model entry a checkpoint key names: wrapper prefixes dropped until it matches, and a
    leading child index (``nn.Sequential(*model.children())``, the layout of RadImageNet's
    PyTorch weights: ``4.0.conv1.weight``) replaced by the child's name (``layer1.0.conv1...``)."""
    while key not in model_keys:
        prefix = next((p for p in KEY_PREFIXES if key.startswith(p)), None)
        if prefix is not None:
            key = key[len(prefix) :]
            continue
        head, _, rest = key.partition(".")
        if head.isdigit() and rest and int(head) < len(child_names):
            key = f"{child_names[int(head)]}.{rest}"
        break
    return key


def _is_head(key: str) -> bool:
    return key.startswith(HEAD_PREFIXES)


def load_backbone(model: nn.Module, source: Source) -> BackboneLoad:
    """Load every non-head parameter and buffer of ``model`` from ``source`` (a path or a state
    dict) and leave ``model.fc`` as it is.

    Raises :class:`PretrainedWeightsError`, naming the file, when it cannot be read or when, heads
    aside, keys are missing, unexpected or of another shape; ``model`` is then left untouched.
    A missing ``num_batches_tracked`` is tolerated (the model keeps its own).
    """
    obj, name = _read(source)
    checkpoint = _unwrap(obj, name)
    target = model.state_dict()
    child_names = [child for child, _ in model.named_children()]

    backbone: Dict[str, torch.Tensor] = {}
    skipped_head: List[str] = []
    for key, value in checkpoint.items():
        stripped = _model_key(str(key), target, child_names)
        if _is_head(stripped):
            skipped_head.append(str(key))
        else:
            backbone[stripped] = value

    missing = [
        k
        for k in target
        if not _is_head(k) and k not in backbone and not k.endswith(OPTIONAL_SUFFIXES)
    ]
    unexpected = [k for k in backbone if k not in target]
    mismatched = [
        f"{k} (checkpoint {tuple(v.shape)}, model {tuple(target[k].shape)})"
        for k, v in backbone.items()
        if k in target and v.shape != target[k].shape
    ]
    problems = [
        f"{len(keys)} {what}: {_listing(keys)}"
        for what, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        )
        if keys
    ]
    if problems:
        raise PretrainedWeightsError(
            f"{name} does not fit the backbone of {type(model).__name__}; " + "; ".join(problems)
        )

    # everything was checked above, so this cannot stop half way through
    model.load_state_dict(backbone, strict=False)
    return BackboneLoad(loaded=tuple(backbone), skipped_head=tuple(skipped_head))
