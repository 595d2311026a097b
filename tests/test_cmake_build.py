"""The CMake build for C++ users produces a library that registers working ops."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from tests import requirements

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import sys, torch, torch.nn.functional as F
torch.ops.load_library(sys.argv[1])
x = torch.randn(5, 4, 7, 5); w = torch.randn(6, 4, 3, 3); b = torch.randn(6)
A = torch.randn(3, 2, 36); B = torch.randn(3, 6, 2); t = torch.tensor([2, 0, 2, 0, 0])
y = torch.ops.lorkd.eks_conv2d(x, w, b, A, B, t, [1, 1], [1, 1], [1, 1], 1, 0.5)
for n, task in enumerate(t.tolist()):
    wn = w + 0.5 * (B[task] @ A[task]).view_as(w)
    torch.testing.assert_close(y[n:n + 1], F.conv2d(x[n:n + 1], wn, b, padding=1))
try:
    torch.ops.lorkd.eks_conv2d(x, w, b, A, B, t + 1, [1, 1], [1, 1], [1, 1], 1, 0.5)
except IndexError as err:
    assert "task_ids contains 3" in str(err)
else:
    raise AssertionError("out-of-range task id accepted")
x.requires_grad_()   # a backward needs no Python package: nothing but the library is loaded
torch.ops.lorkd.eks_conv2d(x, w, b, A, B, t, [1, 1], [1, 1], [1, 1], 1, 0.5).sum().backward()
assert x.grad is not None and x.grad.abs().sum() > 0
print("ok")
"""


@pytest.mark.slow
def test_cmake_library_builds_and_runs(tmp_path):
    if shutil.which("cmake") is None:
        requirements.unavailable("cmake", "cmake is not installed")
    prefix = torch.utils.cmake_prefix_path
    subprocess.run(
        ["cmake", "-S", ROOT, "-B", str(tmp_path), f"-DCMAKE_PREFIX_PATH={prefix}"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["cmake", "--build", str(tmp_path), "-j", "2"], check=True, capture_output=True)
    library = tmp_path / "liblorkd_kernels.so"
    assert library.exists()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(library)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
