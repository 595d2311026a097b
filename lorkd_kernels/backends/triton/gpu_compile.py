"""Compile the kernels of ``conv.py`` and ``split.py`` for a GPU architecture on a machine
without a GPU, and read what ptxas reports about the result (registers, spills).

Without a GPU, Triton cannot load the binary, so the driver's ``n_regs``/``n_spills`` are not
available; ptxas, which Triton ships, reports them when run with ``-v``. Used by the GPU-build
test (``tests/backends/test_triton_compile.py``) and the resource table
(``benchmarks/triton_resources.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass

# the launchers' fp32 buffers whatever the data dtype: the accumulators the kernels zero or sum
# into with atomics
_FP32_BUFFERS = {"dw_ptr", "da_ptr", "db_ptr", "dbias_ptr", "z0_ptr", "z1_ptr"}
_INDEX_BUFFERS = {"order_ptr", "bounds_ptr"}  # the task plan: int64 order and bounds
_FLOAT_SCALARS = {"scale_hi", "scale_lo"}  # the scaling as two fp32 arguments


def dtype_constants() -> dict:
    """The constexprs ``_tiles._dtype_flags`` gives fp32/fp16/bf16 data on a GPU (tf32 off), the
    rank products as ``tl.dot`` (the resource table's cases set ``FMA_RANK`` themselves), and
    the heavier choice of each plan flag (an unsorted batch's order; the split backward's
    zeroing shrink)."""
    import triton.language as tl

    return dict(
        ACC=tl.float32, PRECISION="ieee", UPCAST=False, HAS_ORDER=True, ZERO=True, FMA_RANK=False
    )


def signature(kernel, dtype: str, constants: dict, fp32_pointers=()) -> dict:
    """Triton's signature of ``kernel`` for ``dtype`` ("fp32", "fp16", "bf16") data: constexprs
    for the names in ``constants``, the types the launchers pass for the rest;
    ``fp32_pointers`` names the kernel's other accumulation-dtype buffers (the split form's
    rank-r intermediates)."""
    types = {}
    fp32 = _FP32_BUFFERS | set(fp32_pointers)
    for arg in kernel.arg_names:
        if arg in constants:
            types[arg] = "constexpr"
        elif arg in _INDEX_BUFFERS:
            types[arg] = "*i64"
        elif arg in _FLOAT_SCALARS:
            types[arg] = "fp32"
        elif arg.endswith("_ptr"):
            types[arg] = "*fp32" if arg in fp32 else f"*{dtype}"
        else:
            types[arg] = "i32"
    return types


def compile_kernel(
    kernel,
    capability: int,
    dtype: str,
    constants: dict,
    num_warps: int,
    num_stages: int,
    fp32_pointers=(),
):
    """``triton.compile`` of ``kernel`` for ``sm_<capability>``: PTX and, through ptxas, a cubin."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    constants = {k: v for k, v in constants.items() if k in kernel.arg_names}
    source = ASTSource(
        fn=kernel,
        signature=signature(kernel, dtype, constants, fp32_pointers),
        constexprs=constants,
    )
    return triton.compile(
        source,
        target=GPUTarget("cuda", capability, 32),
        options=dict(num_warps=num_warps, num_stages=num_stages),
    )


@dataclass(frozen=True)
class PtxasUsage:
    registers: int  # per thread
    spill_store_bytes: int
    spill_load_bytes: int
    stack_bytes: int  # local-memory stack frame per thread (spills live there)
    static_shared_bytes: int

    @property
    def spills(self) -> bool:
        return self.spill_store_bytes > 0 or self.spill_load_bytes > 0


_REGISTERS = re.compile(r"Used (\d+) registers")
_SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_SMEM = re.compile(r"(\d+) bytes smem")


def parse_ptxas_log(log: str) -> PtxasUsage:
    """The usage ptxas ``-v`` prints for the one entry function of a Triton kernel."""
    registers, spills = _REGISTERS.search(log), _SPILLS.search(log)
    if registers is None or spills is None:
        raise ValueError(f"ptxas -v output without register/spill lines:\n{log}")
    smem = _SMEM.search(log)
    stack, stores, loads = (int(v) for v in spills.groups())
    return PtxasUsage(
        int(registers.group(1)), stores, loads, stack, int(smem.group(1)) if smem else 0
    )


def ptxas_usage(compiled) -> PtxasUsage:
    """Run Triton's ptxas with ``-v`` on ``compiled``'s PTX, with the options Triton's own
    cubin step uses (``triton/backends/nvidia/compiler.py``, ``make_cubin``), so the numbers
    are those of the cubin Triton built (Triton discards that log)."""
    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability

    capability = compiled.metadata.target.arch
    ptxas = get_ptxas(capability).path
    with tempfile.TemporaryDirectory() as folder:
        ptx = os.path.join(folder, "kernel.ptx")
        with open(ptx, "w") as f:
            f.write(compiled.asm["ptx"])
        done = subprocess.run(
            [
                ptxas,
                "-lineinfo",
                "-v",
                "--regAllocOptLevel=2",
                f"--gpu-name={sm_arch_from_capability(capability)}",
                ptx,
                "-o",
                os.path.join(folder, "kernel.cubin"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return parse_ptxas_log(done.stdout + done.stderr)
