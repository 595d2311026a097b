"""The ``cpu`` backend: the C++ kernels of ``csrc/cpu`` in the compiled library, reached through
their private ops ``torch.ops.lorkd._cpu_*`` (the public ops on CPU tensors call them directly
from C++ when this backend is routed)."""

from .define import compiled_backend

conv2d_forward, conv2d_backward, linear_forward, linear_backward = compiled_backend("cpu")
