"""lorkd_kernels: fast Low-Rank Knowledge Decomposition (LoRKD) layers and kernels for PyTorch."""

from . import ops, reference
from .backends import active_backend
from .nn import EKSConv2d, EKSLinear
from .ops import eks_conv2d, eks_linear

__version__ = "0.1.0"

__all__ = ["EKSConv2d", "EKSLinear", "eks_conv2d", "eks_linear", "active_backend", "ops",
           "reference", "__version__"]
