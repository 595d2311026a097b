"""benchmarks.occupancy: the CUDA occupancy calculator's rules, checked by hand-worked cases."""

from __future__ import annotations

import pytest

from benchmarks.occupancy import occupancy

KB = 1024


def test_few_registers_and_no_shared_memory_fill_the_sm():
    # 32 regs -> 1024 per warp -> 16 warps per sub-partition -> 64 warps: 16 blocks of 4 warps
    occ = occupancy(80, registers=32, shared_bytes=0, warps=4)
    assert (occ.blocks_per_sm, occ.warps_per_sm, occ.fraction) == (16, 64, 1.0)
    assert occ.limited_by == ("registers", "warps")


@pytest.mark.parametrize(
    "registers,warps,blocks",
    [
        (255, 4, 2),  # 255 * 32 = 8160 -> 8192 per warp, 2 per sub-partition: 8 warps
        (128, 8, 2),  # 4096 per warp, 4 per sub-partition: 16 warps
        (65, 4, 7),  # 2080 -> 2304 per warp (256-register granularity), 7 per sub-partition
        (256, 4, 0),  # above the 255-register limit: does not launch
    ],
)
def test_register_limit(registers, warps, blocks):
    occ = occupancy(90, registers=registers, shared_bytes=0, warps=warps)
    assert occ.blocks_per_sm == blocks
    assert occ.warps_per_sm == blocks * warps
    assert "registers" in occ.limited_by


@pytest.mark.parametrize("capability,blocks", [(80, 2), (90, 3)])
def test_shared_memory_limit_counts_the_reserved_kilobyte(capability, blocks):
    # 64 KB + 1 KB reserved per block: 164 KB holds 2, 228 KB holds 3
    occ = occupancy(capability, registers=32, shared_bytes=64 * KB, warps=4)
    assert occ.blocks_per_sm == blocks and occ.limited_by == ("shared memory",)
    assert occ.fraction == blocks * 4 / 64


def test_shared_memory_rounds_up_to_128_bytes():
    # 54946 + 1024 reserved = 55970 bytes would fit 3 times in 164 KB (167936 bytes), but
    # rounded up to 56064 only twice
    assert occupancy(80, 32, 54946, 4).blocks_per_sm == 2
    assert occupancy(80, 32, 54946 - 128, 4).blocks_per_sm == 3


@pytest.mark.parametrize("capability,largest", [(80, 163 * KB), (90, 227 * KB)])
def test_blocks_above_the_per_block_maximum_do_not_launch(capability, largest):
    assert occupancy(capability, 32, largest, 4).blocks_per_sm == 1
    assert occupancy(capability, 32, largest + 1, 4).blocks_per_sm == 0


def test_block_and_warp_limits():
    assert occupancy(80, 16, 0, 1).blocks_per_sm == 32  # 32 blocks per SM at most
    assert occupancy(80, 16, 0, 1).limited_by == ("blocks",)
    assert occupancy(90, 16, 0, 8).blocks_per_sm == 8  # 64 warps per SM
