"""Export a decomposed expert (a plain model) to TorchScript, ONNX or safetensors for deployment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ..conversion import TASK_MODULES
from ..routing import TaskRouter
from .weights_file import save_weights

PathLike = Union[str, os.PathLike]


def _check_plain(model: nn.Module) -> None:
    leftover = [
        name or type(model).__name__
        for name, m in model.named_modules()
        if isinstance(m, TASK_MODULES + (TaskRouter,))
    ]
    if leftover:
        raise ValueError(
            f"export takes a plain model; these modules are still task-routed: "
            f"{leftover[:5]} — call lorkd_kernels.decompose(model, task) first"
        )


def _atomic_target(path: PathLike) -> Tuple[Path, Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, path.with_name(f".{path.name}.tmp")


def export_torchscript(
    model: nn.Module, example_input: torch.Tensor, path: Optional[PathLike] = None
) -> torch.jit.ScriptModule:
    """Trace ``model`` (eval mode) on ``example_input``; save it to ``path`` when given."""
    _check_plain(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scripted = torch.jit.trace(model, (example_input,))
    finally:
        model.train(was_training)
    if path is not None:
        path, tmp = _atomic_target(path)
        scripted.save(str(tmp))
        os.replace(tmp, path)
    return scripted


def _dynamo_exporter_available() -> bool:
    try:
        import onnxscript  # noqa: F401  (the torch.export-based exporter is built on it)
    except ImportError:
        return False
    return True


def export_onnx(
    model: nn.Module, example_input: torch.Tensor, path: PathLike, opset_version: int = 18
) -> Path:
    """Write ``model`` (eval mode) as ONNX with a dynamic batch dimension (needs ``onnx``).

    Uses torch's ``torch.export``-based exporter when ``onnxscript`` is installed, and the
    older TorchScript-based one otherwise.
    """
    _check_plain(model)
    target, tmp = _atomic_target(path)
    was_training = model.training
    model.eval()
    input_names: List[str] = ["input"]
    output_names: List[str] = ["logits"]
    try:
        with torch.no_grad():
            if _dynamo_exporter_available():
                batch = torch.export.Dim("batch")
                torch.onnx.export(
                    model,
                    (example_input,),
                    str(tmp),
                    dynamo=True,
                    dynamic_shapes=({0: batch},),
                    opset_version=opset_version,
                    verbose=False,
                    input_names=input_names,
                    output_names=output_names,
                )
            else:
                torch.onnx.export(
                    model,
                    (example_input,),
                    str(tmp),
                    dynamo=False,
                    dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                    opset_version=opset_version,
                    input_names=input_names,
                    output_names=output_names,
                )
    finally:
        model.train(was_training)
    os.replace(tmp, target)
    return target


def export_safetensors(
    model: nn.Module, path: PathLike, metadata: Optional[Mapping[str, str]] = None
) -> Path:
    """Write the state dict of ``model`` (plain) as a safetensors file, with ``metadata`` (strings,
    e.g. the architecture's name) in its header; read it back with
    :func:`lorkd_kernels.weights_file.load_weights`, which checks every key and shape."""
    _check_plain(model)
    return save_weights(model.state_dict(), path, metadata)
