"""EKS layers: drop-in ``nn.Conv2d`` / ``nn.Linear`` with per-task low-rank experts."""

from .conv import EKSConv2d
from .heads import TaskHeads
from .linear import EKSLinear

__all__ = ["EKSConv2d", "EKSLinear", "TaskHeads"]
