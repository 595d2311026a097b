"""lorkd_kernels: fast Low-Rank Knowledge Decomposition (LoRKD) layers and kernels for PyTorch."""

from . import ops, reference
from .backends import active_backend
from .convert import convert, decompose, switch_task
from .export import export_onnx, export_torchscript
from .nn import EKSConv2d, EKSLinear, TaskHeads
from .ops import eks_conv2d, eks_linear
from .routing import TaskRouter, current_task_ids, task_ids_context

__version__ = "0.1.0"

__all__ = ["EKSConv2d", "EKSLinear", "TaskHeads", "TaskRouter", "task_ids_context",
           "current_task_ids", "convert", "decompose", "switch_task", "export_onnx",
           "export_torchscript", "eks_conv2d", "eks_linear", "active_backend", "ops", "reference",
           "__version__"]
