"""lorkd_kernels: fast Low-Rank Knowledge Decomposition (LoRKD) layers and kernels for PyTorch."""

from . import ops, reference
from .backends import active_backend
from .convert import convert, decompose, switch_task
from .export import export_onnx, export_safetensors, export_torchscript
from .nn import EKSConv2d, EKSLinear, TaskHeads
from .ops import eks_conv2d, eks_linear
from .peft_export import PeftExport, export_peft_adapters, load_peft_base, peft_base_model
from .peft_import import from_peft
from .routing import TaskRouter, current_task_ids, task_ids_context
from .weights_file import WeightsFileError, load_weights, save_weights

__version__ = "0.1.0"

# The public API, grouped as in the README's "API" section; everything else may change.
__all__ = [
    # layers
    "EKSConv2d", "EKSLinear", "TaskHeads",
    # functional ops and the backend serving them
    "eks_conv2d", "eks_linear", "active_backend",
    # whole models: conversion, task routing, deployment
    "convert", "decompose", "switch_task", "TaskRouter", "task_ids_context", "current_task_ids",
    # export of a deployed expert
    "export_onnx", "export_torchscript", "export_safetensors",
    # safetensors weight files
    "save_weights", "load_weights", "WeightsFileError",
    # the peft bridge
    "export_peft_adapters", "peft_base_model", "load_peft_base", "PeftExport", "from_peft",
    # modules
    "ops", "reference",
    "__version__",
]
