"""The ``cuda_emu`` backend: the CUDA kernels of ``csrc/kernels`` run on CPU tensors by the
emulation harness (``csrc/emu``: one fiber per CUDA thread, run in a shuffled order between
``__syncthreads`` barriers), through their private ops ``torch.ops.lorkd._cuda_emu_*``.

It exists to test the CUDA kernel logic on machines without a GPU; it is a test harness, far
slower than the ``cpu`` backend. Every build of
the compiled library contains it.
"""

from .define import compiled_backend

conv2d_forward, conv2d_backward, linear_forward, linear_backward = compiled_backend("cuda_emu")
