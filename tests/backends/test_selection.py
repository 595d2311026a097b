"""LORKD_BACKEND: forcing, rejecting and falling back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import torch

import lorkd_kernels
from lorkd_kernels import backends, reference
from lorkd_kernels.backends import registry

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
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", ["torch", "reference"])
def test_forced_python_backend_runs(name):
    result = _run_with_backend(name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == name


def test_forced_cuda_emulation_runs_the_public_ops():
    result = _run_with_backend("cuda_emu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cuda_emu"


def test_forced_cuda_without_cuda_kernels_is_an_error():
    if backends.has_cuda_kernels():
        pytest.skip("this build has CUDA kernels")
    result = _run_with_backend("cuda")
    assert result.returncode != 0
    assert "holds no CUDA kernels" in result.stderr


def test_without_the_compiled_library_the_python_router_serves(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LORKD_BACKEND"}
    env["LORKD_LIBRARY"] = str(tmp_path / "missing_C.so")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "torch"
    assert "using the 'torch' backend" in result.stderr


def test_unknown_backend_is_an_error():
    result = _run_with_backend("bogus")
    assert result.returncode != 0
    assert "LORKD_BACKEND='bogus' is not one of cpu, cuda, " in result.stderr


def test_missing_optional_backend_is_reported_as_not_installed(monkeypatch):
    monkeypatch.setattr(registry, "package_installed", lambda backend: backend.package is None)
    reason = backends.availability("triton")
    assert reason is not None and "not installed" in reason and "pip install triton" in reason
    with pytest.raises(backends.BackendUnavailableError, match="not installed"):
        with backends.use("triton"):
            pass


def test_forced_cpu_backend_without_library_is_an_error(monkeypatch):
    def missing():
        raise FileNotFoundError("no compiled library")

    monkeypatch.setattr(backends.library, "load", missing)
    monkeypatch.setenv("LORKD_BACKEND", "cpu")
    with pytest.raises(backends.BackendUnavailableError, match="LORKD_BACKEND=cpu"):
        backends.load()


def test_automatic_choice_falls_back_with_a_warning(monkeypatch):
    def missing():
        raise FileNotFoundError("no compiled library")

    monkeypatch.setattr(backends.library, "load", missing)
    monkeypatch.delenv("LORKD_BACKEND", raising=False)
    before = backends.active_backend("cpu")
    with pytest.warns(RuntimeWarning, match="using the 'torch' backend"):
        backends.load()
    assert backends.active_backend("cpu") == before  # the library loaded earlier still serves


def test_conv_strategy_rejects_unknown_names():
    with pytest.raises(ValueError, match="conv_strategy=.fast. is not a conv strategy"):
        with backends.conv_strategy("fast"):
            pass


def test_registry_lists_every_backend_with_where_it_runs():
    assert set(registry.BACKENDS) == {"cpu", "cuda", "cuda_emu", "triton", "torch", "reference"}
    assert registry.get("cpu").runs_on("cpu") and not registry.get("cpu").runs_on("cuda")
    assert registry.get("torch").runs_on("xpu")
    for device, names in registry.DEVICE_DEFAULTS.items():
        assert names[-1] == registry.FALLBACK and all(
            registry.get(n).runs_on(device) for n in names
        )
    with pytest.raises(backends.BackendUnavailableError, match="not a lorkd backend"):
        registry.get("bogus")


def _conv_args():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, 5, requires_grad=True)
    w = torch.randn(5, 4, 3, 3, requires_grad=True)
    A = torch.randn(2, 2, 36, requires_grad=True)
    B = torch.randn(2, 5, 2, requires_grad=True)
    return x, w, A, B, torch.tensor([1, 0, 1])


@pytest.mark.parametrize("name", backends.available_backends("cpu"))
def test_every_backend_serves_the_public_ops_and_its_own_in_one_process(name):
    x, w, A, B, t = _conv_args()
    expected = reference.eks_conv2d_per_sample(x, w, None, A, B, t, padding=(1, 1))
    grads_expected = torch.autograd.grad(expected.sum(), (x, w, A, B))
    default = backends.active_backend("cpu")
    with backends.use(name):
        assert backends.active_backend("cpu") == name
        routed = lorkd_kernels.eks_conv2d(x, w, None, A, B, t, padding=1)
    assert backends.active_backend("cpu") == default
    explicit = backends.explicit(name).eks_conv2d(
        x, w, None, A, B, t, (1, 1), (1, 1), (1, 1), 1, 1.0
    )
    for y in (routed, explicit):
        torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)
        for got, want in zip(torch.autograd.grad(y.sum(), (x, w, A, B)), grads_expected):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_use_refuses_a_backend_that_cannot_run_there():
    with pytest.raises(backends.BackendUnavailableError, match="does not run on cpu"):
        with backends.use("cuda", "cpu"):
            pass


@pytest.mark.skipif(
    not registry.package_installed(registry.get("triton")), reason="triton not installed"
)
@pytest.mark.parametrize("interpret", [True, False], ids=["interpreter", "no_interpreter"])
def test_forced_triton_backend_on_cpu(interpret):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(LORKD_BACKEND="triton", **({"TRITON_INTERPRET": "1"} if interpret else {}))
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    if interpret:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "triton"
    else:
        assert result.returncode != 0
        assert "set TRITON_INTERPRET=1" in result.stderr


def test_active_backend_asked_first_in_a_process_names_the_backend_the_layers_use():
    code = (
        "from lorkd_kernels.backends import active_backend\n"
        "first = active_backend('cpu')\n"
        "import torch, lorkd_kernels\n"
        "from lorkd_kernels import EKSConv2d\n"
        "print(first, active_backend('cpu'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LORKD_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    first, later = result.stdout.split()
    assert first == later
