"""The ``cuda_emu`` backend: the CUDA kernels of ``csrc/kernels`` run on CPU tensors by the
emulation harness (``csrc/emu``: one OS thread per CUDA thread, a barrier for
``__syncthreads``), through their private ops ``torch.ops.lorkd._cuda_emu_*``.

It exists to test the CUDA kernel logic on machines without a GPU, and is slow. Every build of
the compiled library contains it.
"""

from .library import private_op_functions

conv2d_forward, conv2d_backward, linear_forward, linear_backward = private_op_functions("cuda_emu")
