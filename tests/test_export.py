"""Export of decomposed experts: TorchScript and ONNX (compared with onnxruntime)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from lorkd_kernels import decompose, export_onnx, export_safetensors, export_torchscript
from lorkd_kernels.deploy.weights_file import load_weights
from tests.test_convert import converted
from tests.toy_models import rel_error

HAVE_ONNXRUNTIME = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))


def test_torchscript_export_matches_and_reloads(tmp_path):
    expert = decompose(converted(), 1)
    x = torch.randn(2, 3, 12, 12)
    path = tmp_path / "expert.pt"
    scripted = export_torchscript(expert, x, path)
    reloaded = torch.jit.load(str(path))
    other = torch.randn(5, 3, 12, 12)
    assert rel_error(reloaded(other), expert(other)) <= 1e-6
    assert rel_error(scripted(other), expert(other)) <= 1e-6


@pytest.mark.skipif(not HAVE_ONNXRUNTIME, reason="onnx and onnxruntime are not installed")
def test_onnx_export_matches_onnxruntime_with_a_dynamic_batch(tmp_path):
    import onnxruntime

    expert = decompose(converted(), 2)
    path = export_onnx(expert, torch.randn(2, 3, 12, 12), tmp_path / "expert.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 3, 12, 12)
    (logits,) = session.run(None, {"input": x.numpy()})
    assert rel_error(torch.from_numpy(np.asarray(logits)), expert(x)) <= 1e-5


@pytest.mark.parametrize(
    "export",
    [
        lambda m, x, p: export_torchscript(m, x, p / "m.pt"),
        lambda m, x, p: export_onnx(m, x, p / "m.onnx"),
    ],
)
def test_export_refuses_a_model_that_still_routes_tasks(tmp_path, export):
    with pytest.raises(ValueError, match="decompose"):
        export(converted(), torch.randn(1, 3, 8, 8), tmp_path)
    assert not any(tmp_path.iterdir())


def test_safetensors_export_reloads_into_the_plain_architecture(tmp_path):
    student = converted()
    expert = decompose(student, 1).eval()
    path = export_safetensors(expert, tmp_path / "expert.safetensors", {"task": "1"})
    fresh = decompose(converted(seed=1), 1).eval()  # same architecture, other weights
    assert load_weights(fresh, path) == {"task": "1"}
    x = torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(fresh(x), expert(x))
    with pytest.raises(ValueError, match="still task-routed"):
        export_safetensors(student, tmp_path / "student.safetensors")
