"""The ``cuda`` backend: the CUDA C++ kernels of ``csrc/kernels`` launched by ``csrc/cuda``,
reached through their private ops ``torch.ops.lorkd._cuda_*`` (a CUDA build of ``_C`` only)."""

from .define import compiled_backend

conv2d_forward, conv2d_backward, linear_forward, linear_backward = compiled_backend("cuda")
