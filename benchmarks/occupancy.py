"""Theoretical occupancy of a kernel on one SM, from its registers, shared memory and warps.

The rules are those of the CUDA occupancy calculator, ``cuda_occupancy.h`` (shipped with the
CUDA toolkit, and with Triton under ``triton/backends/nvidia/include``):

* registers (``cudaOccMaxBlocksPerSMRegsLimit``): a warp is allocated
  ``roundup(regs_per_thread * 32, 256)`` registers; the register file is split between 4
  sub-partitions, so ``warps = 4 * floor((65536 / 4) / regs_per_warp)`` fit, and
  ``blocks = floor(warps / warps_per_block)``; none fit above 255 registers per thread;
* shared memory (``cudaOccMaxBlocksPerSMSmemLimit``): a block takes its static + dynamic shared
  memory plus 1 KB the driver reserves per block (``reservedSharedMemPerBlock``, 1024 bytes on
  compute capability 8.x/9.x), rounded up to 128 bytes; ``blocks = floor(smem_per_sm / that)``,
  with the largest carveout (the driver picks the carveout a launch needs); none fit above the
  opt-in per-block maximum;
* warps: ``floor(64 / warps_per_block)``; blocks: at most 32 per SM.

Occupancy = min(block limits) * warps_per_block / 64 warps. Per-arch limits: CUDA C++
Programming Guide, "Technical Specifications per Compute Capability" (8.0: 64K registers,
164 KB shared memory per SM, 163 KB per block; 9.0: 64K registers, 228 KB per SM, 227 KB per
block; both 64 warps and 32 blocks per SM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

WARP_SIZE = 32
REG_ALLOCATION_UNIT = 256  # registers, per warp
REG_SUB_PARTITIONS = 4
MAX_REGS_PER_THREAD = 255
SMEM_ALLOCATION_UNIT = 128  # bytes
SMEM_RESERVED_PER_BLOCK = 1024  # bytes


@dataclass(frozen=True)
class ArchLimits:
    name: str
    regs_per_sm: int
    smem_per_sm: int  # bytes, largest carveout
    smem_per_block: int  # bytes, opt-in maximum
    warps_per_sm: int
    blocks_per_sm: int


ARCHS: Dict[int, ArchLimits] = {
    80: ArchLimits("sm_80", 65536, 164 * 1024, 163 * 1024, 64, 32),
    90: ArchLimits("sm_90", 65536, 228 * 1024, 227 * 1024, 64, 32),
}


@dataclass(frozen=True)
class Occupancy:
    blocks_per_sm: int
    warps_per_sm: int
    fraction: float  # of the SM's warp slots
    limited_by: Tuple[str, ...]  # the resources whose block limit is the minimum


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit


def _register_blocks(limits: ArchLimits, registers: int, warps: int) -> int:
    if registers > MAX_REGS_PER_THREAD:
        return 0
    per_warp = _round_up(max(registers, 1) * WARP_SIZE, REG_ALLOCATION_UNIT)
    # the hardware check assumes a block's warps spread over every sub-partition
    if per_warp * _round_up(warps, REG_SUB_PARTITIONS) > limits.regs_per_sm:
        return 0
    warps_per_partition = limits.regs_per_sm // REG_SUB_PARTITIONS // per_warp
    return warps_per_partition * REG_SUB_PARTITIONS // warps


def _shared_blocks(limits: ArchLimits, shared_bytes: int) -> int:
    per_block = _round_up(shared_bytes + SMEM_RESERVED_PER_BLOCK, SMEM_ALLOCATION_UNIT)
    if per_block > limits.smem_per_block + SMEM_RESERVED_PER_BLOCK:
        return 0
    return limits.smem_per_sm // per_block


def occupancy(capability: int, registers: int, shared_bytes: int, warps: int) -> Occupancy:
    """Blocks and warps per SM of a kernel using ``registers`` per thread and ``shared_bytes``
    (static + dynamic) per block of ``warps`` warps, on ``sm_<capability>``."""
    limits = ARCHS[capability]
    blocks = {
        "registers": _register_blocks(limits, registers, warps),
        "shared memory": _shared_blocks(limits, shared_bytes),
        "warps": limits.warps_per_sm // warps,
        "blocks": limits.blocks_per_sm,
    }
    fit = min(blocks.values())
    return Occupancy(
        fit,
        fit * warps,
        fit * warps / limits.warps_per_sm,
        tuple(name for name, n in blocks.items() if n == fit),
    )
