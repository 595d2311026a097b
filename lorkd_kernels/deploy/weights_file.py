"""Model weights as ``safetensors`` files: what deployed experts and exported adapters are shared
as.

A safetensors file holds named tensors and a string-to-string header, nothing executable, so a
file from elsewhere is safe to open (training checkpoints stay ``torch.save`` files, read with
``weights_only=True``). Loading checks every key and shape against the model first and reports
all that does not fit in one line, instead of torch's multi-line ``load_state_dict`` error or a
half-loaded model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Collection, Dict, Mapping, Optional, Union

import torch
from torch import nn

from .._atomic import write_bytes_atomically

PathLike = Union[str, os.PathLike]

#: how many offending keys an error message lists before it counts the rest
_SHOWN = 4


class WeightsFileError(ValueError):
    """A weights file that is unreadable or does not fit the model; the message names the file."""


def _safetensors():
    try:
        import safetensors
        import safetensors.torch
    except ImportError as err:
        raise ImportError(
            "safetensors files need the safetensors package: pip install safetensors"
        ) from err
    return safetensors


def _listed(keys) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def plain_tensors(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """``state`` as safetensors stores it: detached, contiguous, no two names sharing memory."""
    return {key: value.detach().contiguous().clone() for key, value in state.items()}


def save_weights(
    state: Mapping[str, torch.Tensor], path: PathLike, metadata: Optional[Mapping[str, str]] = None
) -> Path:
    """Write ``state`` (a state dict) and ``metadata`` (strings) to ``path`` atomically."""
    path = Path(path)
    bad = {k: type(v).__name__ for k, v in (metadata or {}).items() if not isinstance(v, str)}
    if bad:
        raise TypeError(f"safetensors metadata holds strings only; got {bad}")
    blob = _safetensors().torch.save(plain_tensors(state), metadata=dict(metadata or {}))
    return write_bytes_atomically(path, blob)


def read_weights(path: PathLike) -> tuple:
    """``(state dict, metadata)`` of a safetensors file, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as err:  # safetensors raises its own error types and OSError
        raise WeightsFileError(
            f"{path} is not a safetensors file or is damaged ({type(err).__name__}: {err})"
        ) from err
    return state, metadata


def fit_problems(
    model: nn.Module, state: Mapping[str, torch.Tensor], may_lack: Collection[str] = ()
) -> str:
    """What keeps ``state`` from loading into ``model`` with strict=True ('' if nothing).

    ``may_lack``: model keys the state may leave out (they keep the model's values).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and k not in may_lack]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} is {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if wrong:
        problems.append("shapes differ: " + _listed(wrong))
    if missing:
        problems.append("missing " + _listed(missing))
    if unexpected:
        problems.append("unexpected " + _listed(unexpected))
    return "; ".join(problems)


def load_state(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: PathLike,
    may_lack: Collection[str] = (),
) -> nn.Module:
    """Copy ``state`` (read from ``source``) into ``model`` once every key and shape fits;
    otherwise raise one :class:`WeightsFileError` line naming the file, the model class and
    what differs, with nothing copied."""
    problems = fit_problems(model, state, may_lack)
    if problems:
        raise WeightsFileError(f"{source} does not fit {type(model).__name__}: {problems}")
    model.load_state_dict(state, strict=not may_lack)
    return model


def load_weights(
    model: nn.Module, path: PathLike, may_lack: Collection[str] = ()
) -> Dict[str, str]:
    """Load the safetensors file ``path`` into ``model`` (see :func:`load_state`); return the
    file's metadata."""
    state, metadata = read_weights(path)
    load_state(model, state, path, may_lack)
    return metadata
