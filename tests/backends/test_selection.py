"""LORKD_BACKEND: forcing, rejecting and falling back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lorkd_kernels import backends

PROBE = """
import torch, lorkd_kernels
x = torch.randn(3, 4, 6, 5); w = torch.randn(5, 4, 3, 3)
A = torch.randn(2, 2, 36); B = torch.randn(2, 5, 2); t = torch.tensor([1, 0, 1])
y = lorkd_kernels.eks_conv2d(x, w, None, A, B, t, padding=1)
ref = lorkd_kernels.reference.eks_conv2d_per_sample(x, w, None, A, B, t, padding=(1, 1))
assert torch.allclose(y, ref, rtol=1e-4, atol=1e-4)
print(lorkd_kernels.active_backend("cpu"))
"""


def _run_with_backend(name):
    env = dict(os.environ, LORKD_BACKEND=name)
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("name", ["torch", "reference"])
def test_forced_python_backend_runs(name):
    result = _run_with_backend(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_forced_cuda_emulation_runs_the_public_ops():
    if not backends.cuda_emu.available():
        pytest.skip("lorkd_kernels._C not built")
    result = _run_with_backend("cuda_emu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cuda_emu"


def test_forced_cuda_without_cuda_kernels_is_an_error():
    if backends.has_cuda_kernels():
        pytest.skip("this build has CUDA kernels")
    result = _run_with_backend("cuda")
    assert result.returncode != 0
    assert "holds no CUDA kernels" in result.stderr or "did not load" in result.stderr


UNAVAILABLE = [n for n in backends.KNOWN_BACKENDS if n not in backends.IMPLEMENTED_BACKENDS]


@pytest.mark.parametrize("name,message", [
    ("bogus", "is not a backend"),
    pytest.param(UNAVAILABLE[0] if UNAVAILABLE else "none", "is not available in this version",
                 marks=pytest.mark.skipif(not UNAVAILABLE, reason="every backend is available"))])
def test_unknown_or_unavailable_backend_is_an_error(name, message):
    result = _run_with_backend(name)
    assert result.returncode != 0
    assert message in result.stderr


def test_forced_cpu_backend_without_library_is_an_error(monkeypatch):
    def missing():
        raise FileNotFoundError("no compiled library")
    monkeypatch.setattr(backends.cpu, "load_library", missing)
    monkeypatch.setenv("LORKD_BACKEND", "cpu")
    with pytest.raises(backends.BackendUnavailableError, match="LORKD_BACKEND=cpu"):
        backends.load_compiled()


def test_automatic_choice_falls_back_with_a_warning(monkeypatch):
    def missing():
        raise FileNotFoundError("no compiled library")
    monkeypatch.setattr(backends.cpu, "load_library", missing)
    monkeypatch.delenv("LORKD_BACKEND", raising=False)
    loaded_before = backends._compiled_loaded
    with pytest.warns(RuntimeWarning, match="using the 'torch' backend"):
        assert backends.load_compiled() is False
    assert backends._compiled_loaded == loaded_before


def test_conv_strategy_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown strategy"):
        with backends.conv_strategy("fast"):
            pass


@pytest.mark.skipif("triton" not in backends.IMPLEMENTED_BACKENDS, reason="triton not installed")
@pytest.mark.parametrize("interpret", [True, False], ids=["interpreter", "no_interpreter"])
def test_forced_triton_backend_on_cpu(interpret):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(LORKD_BACKEND="triton", **({"TRITON_INTERPRET": "1"} if interpret else {}))
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                            text=True, timeout=120)
    if interpret:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "triton"
    else:
        assert result.returncode != 0
        assert "set TRITON_INTERPRET=1" in result.stderr
