"""lorkd_kernels: fast Low-Rank Knowledge Decomposition (LoRKD) layers and kernels for PyTorch.

The public names load on first use (PEP 562), so ``python -m lorkd_kernels.train --help`` answers
without importing torch. When torch is already imported, importing the package costs little
more, so it loads everything at once: ``import torch; import lorkd_kernels`` registers
``torch.ops.lorkd`` as it always did. Otherwise any public name (or ``import lorkd_kernels.ops``)
registers the ops.
"""

import importlib
import sys

__version__ = "0.1.0"

# The public API (public name -> the submodule that defines it), grouped as in the README's
# "API" section; everything else may change.
_EXPORTS = {
    # layers
    "EKSConv2d": "nn",
    "EKSLinear": "nn",
    "TaskHeads": "nn",
    # functional ops and the backend serving them
    "eks_conv2d": "ops",
    "eks_linear": "ops",
    "active_backend": "backends",
    # whole models: conversion, task routing, deployment
    "convert": "conversion",
    "decompose": "conversion",
    "switch_task": "conversion",
    "TaskRouter": "routing",
    "task_ids_context": "routing",
    "current_task_ids": "routing",
    # export of a deployed expert
    "export_onnx": "deploy.export",
    "export_torchscript": "deploy.export",
    "export_safetensors": "deploy.export",
    # safetensors weight files
    "save_weights": "deploy.weights_file",
    "load_weights": "deploy.weights_file",
    "WeightsFileError": "deploy.weights_file",
    # the peft bridge (peft itself is imported only when a bridge function runs)
    "export_peft_adapters": "deploy.peft_export",
    "peft_base_model": "deploy.peft_export",
    "load_peft_base": "deploy.peft_export",
    "PeftExport": "deploy.peft_export",
    "from_peft": "deploy.peft_import",
}
_SUBMODULES = ("ops", "reference")

__all__ = [*_EXPORTS, *_SUBMODULES, "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "torch" in sys.modules:
    for _name in __all__[:-1]:
        __getattr__(_name)
