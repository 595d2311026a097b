"""The GPU tier compares fp32 results with the float64 oracle at 1e-4, which TF32 (10-bit
mantissas) cannot meet: every test here runs with strict fp32 products, for cuDNN, cuBLAS and
the Triton kernels alike (``segments.tf32_allowed`` follows the same switches)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _strict_fp32():
    cudnn, matmul = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = cudnn
        torch.set_float32_matmul_precision(matmul)
