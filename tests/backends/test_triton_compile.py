"""The triton kernels compile for real GPUs (sm_80, sm_90): PTX and, through ptxas, a cubin.

Needs no GPU, only triton's bundled toolchain. The interpreter tests check what the kernels
compute; this checks that the GPU compiler accepts them (types, control flow, atomics, dot
shapes), which the interpreter does not. Slow (a few seconds per kernel): runs with ``-m slow``.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

from tests import requirements

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("TRITON_INTERPRET") == "1",
        reason="the interpreter replaces the kernels it would compile",
    ),
]
if importlib.util.find_spec("triton") is None:
    requirements.unavailable("triton", "triton not installed")

KERNEL_CONSTANTS = {
    "conv_forward_kernel": dict(HAS_BIAS=True, BLOCK_M=128, BLOCK_N=64, BLOCK_K=32),
    "conv_dgrad_kernel": dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32),
    "conv_wgrad_kernel": dict(
        SPLIT=4, NEED_W=True, NEED_LORA=True, NEED_BIAS=True, BLOCK_CO=64, BLOCK_K=64, BLOCK_P=64
    ),
}
# the split form's branch kernels (split.py): (constants, their accumulation-dtype buffers)
SPLIT_KERNELS = {
    "branch_shrink_kernel": (dict(BLOCK_M=64, BLOCK_K=16), ("u_ptr",)),
    "branch_expand_kernel": (dict(BLOCK_M=64, BLOCK_N=16), ("u_ptr",)),
    "segment_outer_kernel": (
        dict(SPLIT=4, BLOCK_A=16, BLOCK_K=32, BLOCK_P=16),
        ("left_ptr", "out_ptr"),
    ),
}
TARGETS = [(80, "fp16", (3, 3)), (90, "bf16", (1, 1)), (90, "fp32", (3, 3))]


@pytest.mark.parametrize("capability,dtype,kernel_size", TARGETS, ids=str)
@pytest.mark.parametrize("name", sorted(KERNEL_CONSTANTS))
def test_kernel_compiles_for_gpu(name, capability, dtype, kernel_size):
    from lorkd_kernels.backends.triton import conv
    from lorkd_kernels.backends.triton.gpu_compile import compile_kernel, dtype_constants

    constants = dict(
        KERNEL_CONSTANTS[name], KH=kernel_size[0], KW=kernel_size[1], R=16, **dtype_constants()
    )
    compiled = compile_kernel(
        getattr(conv, name), capability, dtype, constants, num_warps=4, num_stages=3
    )
    assert compiled.asm["cubin"], "ptxas produced no cubin"


@pytest.mark.parametrize("capability,dtype,kernel_size", TARGETS, ids=str)
@pytest.mark.parametrize("name", sorted(SPLIT_KERNELS))
def test_split_kernel_compiles_for_gpu(name, capability, dtype, kernel_size):
    from lorkd_kernels.backends.triton import split
    from lorkd_kernels.backends.triton.gpu_compile import compile_kernel, dtype_constants

    kernel = getattr(split, name)
    tiles, fp32_pointers = SPLIT_KERNELS[name]
    constants = dict(tiles, KH=kernel_size[0], KW=kernel_size[1], R=16, **dtype_constants())
    constants = {k: v for k, v in constants.items() if k in kernel.arg_names}
    compiled = compile_kernel(
        kernel, capability, dtype, constants, num_warps=8, num_stages=2, fp32_pointers=fp32_pointers
    )
    assert compiled.asm["cubin"], "ptxas produced no cubin"
