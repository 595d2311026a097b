"""The CUDA build of the compiled library: it links, imports on a machine without a GPU, and
registers CUDA kernels for every op next to the CPU and emulated ones.

Runs where ``LORKD_CUDA_LIBRARY`` names a ``_C`` built with ``LORKD_BUILD_CUDA=1`` against a
CUDA build of torch (``.ci/run`` does that in its own virtual environment);
``LORKD_REQUIRE_CUDA_BUILD=1`` turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

LIBRARY = os.environ.get("LORKD_CUDA_LIBRARY", "")
OPS = ("eks_conv2d", "eks_conv2d_backward", "eks_linear", "eks_linear_backward")

if not LIBRARY:
    if os.environ.get("LORKD_REQUIRE_CUDA_BUILD") == "1":
        raise RuntimeError("LORKD_REQUIRE_CUDA_BUILD=1 but LORKD_CUDA_LIBRARY is not set")
    pytest.skip("LORKD_CUDA_LIBRARY not set (no CUDA build of lorkd_kernels._C to check)",
                allow_module_level=True)

PROBE = """
import torch, lorkd_kernels
from lorkd_kernels import backends, reference
assert backends.has_cuda_kernels()
x = torch.randn(3, 4, 6, 5, dtype=torch.float64); w = torch.randn(5, 4, 3, 3, dtype=torch.float64)
A = torch.randn(2, 2, 36, dtype=torch.float64); B = torch.randn(2, 5, 2, dtype=torch.float64)
t = torch.tensor([1, 0, 1])
y = lorkd_kernels.eks_conv2d(x, w, None, A, B, t, padding=1)
ref = reference.eks_conv2d_per_sample(x, w, None, A, B, t, padding=(1, 1))
assert torch.allclose(y, ref, rtol=1e-10, atol=1e-10)
print(backends.active_backend("cpu"), backends.active_backend("cuda"))
"""


def test_runs_under_a_cuda_build_of_torch():
    assert torch.version.cuda is not None, "this check needs the CUDA build of torch"


def test_library_registers_cuda_cpu_and_emulated_kernels():
    torch.ops.load_library(LIBRARY)
    for op in OPS:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"lorkd::{op}", "CUDA"), op
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"lorkd::{op}", "CPU"), op
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"lorkd::_emu_{op}", "CPU"), op


# By default CUDA tensors run the Triton kernels when triton is installed, else these.
DEFAULT_CUDA = "triton" if importlib.util.find_spec("triton") else "cuda"


@pytest.mark.parametrize("backend,expected", [("", f"cpu {DEFAULT_CUDA}"), ("cuda", "cpu cuda"),
                                              ("cuda_emu", "cuda_emu cuda")])
def test_package_imports_with_the_cuda_build(backend, expected):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, LORKD_LIBRARY=os.path.abspath(LIBRARY), LORKD_BACKEND=backend,
               PYTHONPATH=root)
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == expected
