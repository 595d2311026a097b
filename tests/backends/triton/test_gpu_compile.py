"""gpu_compile: the ptxas -v report read into registers, spills and shared memory."""

from __future__ import annotations

import pytest

from lorkd_kernels.backends.triton.gpu_compile import parse_ptxas_log, signature

LOG = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'conv_forward_kernel' for 'sm_90a'
ptxas info    : Function properties for conv_forward_kernel
    3048 bytes stack frame, 4332 bytes spill stores, 5216 bytes spill loads
ptxas info    : Used 255 registers, used 1 barriers, 3048 bytes cumulative stack size, 512 bytes smem
ptxas info    : Compile time = 4822.415 ms
"""


def test_ptxas_log_fields():
    usage = parse_ptxas_log(LOG)
    assert (
        usage.registers,
        usage.spill_store_bytes,
        usage.spill_load_bytes,
        usage.stack_bytes,
        usage.static_shared_bytes,
    ) == (255, 4332, 5216, 3048, 512)
    assert usage.spills


def test_ptxas_log_without_spills_or_smem():
    log = LOG.replace("4332 bytes spill stores, 5216", "0 bytes spill stores, 0")
    usage = parse_ptxas_log(log.replace(", 512 bytes smem", ""))
    assert not usage.spills and usage.static_shared_bytes == 0


def test_ptxas_log_without_usage_lines_is_an_error():
    with pytest.raises(ValueError, match="without register/spill lines"):
        parse_ptxas_log("ptxas fatal   : Unresolved extern function 'f'\n")


def test_signature_types_follow_the_launchers():
    from lorkd_kernels.backends.triton import conv

    types = signature(conv.conv_wgrad_kernel, "bf16", {"KH": 3})
    assert types["KH"] == "constexpr"
    assert types["x_ptr"] == "*bf16" and types["dw_ptr"] == "*fp32"
    assert types["order_ptr"] == "*i64" and types["num_tasks"] == "i32"
