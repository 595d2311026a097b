"""The CUDA build of the compiled library: it links, imports on a machine without a GPU, and
registers CUDA kernels for every op next to the CPU and emulated ones.

Runs where ``--cuda-library PATH`` names a ``_C`` built with ``LORKD_BUILD=cuda`` against a
CUDA build of torch (``.ci/run`` does that in its own virtual environment); ``--require
cuda-build`` turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from tests import requirements

OPS = ("eks_conv2d", "eks_conv2d_backward", "eks_linear", "eks_linear_backward")


@pytest.fixture(scope="module")
def library(pytestconfig) -> str:
    path = pytestconfig.getoption("--cuda-library")
    if not path:
        requirements.unavailable(
            "cuda-build", "no --cuda-library given (no CUDA build of lorkd_kernels._C to check)"
        )
    if not os.path.isfile(path):
        pytest.fail(f"--cuda-library {path}: no such file", pytrace=False)
    return os.path.abspath(path)


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


def test_runs_under_a_cuda_build_of_torch(library):
    assert torch.version.cuda is not None, "this check needs the CUDA build of torch"


def test_library_registers_cuda_cpu_and_emulated_kernels(library):
    torch.ops.load_library(library)
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    for op in OPS:
        assert has_kernel(f"lorkd::{op}", "CUDA"), op  # the public ops' router
        assert has_kernel(f"lorkd::{op}", "CPU"), op
        assert has_kernel(f"lorkd::_cuda_{op}", "CUDA"), op
        assert has_kernel(f"lorkd::_cpu_{op}", "CPU"), op
        assert has_kernel(f"lorkd::_cuda_emu_{op}", "CPU"), op


# By default CUDA tensors run the Triton kernels when triton is installed, else these.
DEFAULT_CUDA = "triton" if importlib.util.find_spec("triton") else "cuda"


@pytest.mark.parametrize(
    "backend,expected",
    [("", f"cpu {DEFAULT_CUDA}"), ("cuda", "cpu cuda"), ("cuda_emu", f"cuda_emu {DEFAULT_CUDA}")],
)
def test_package_imports_with_the_cuda_build(library, backend, expected):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, LORKD_LIBRARY=library, LORKD_BACKEND=backend, PYTHONPATH=root)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == expected
