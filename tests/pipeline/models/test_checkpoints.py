"""load_backbone: wrapped, prefixed and headless checkpoints load; anything else fails untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels.pipeline.models import PretrainedWeightsError, load_backbone, resnet18, resnet50


def _backbone_keys(model):
    return [k for k in model.state_dict() if not k.startswith("fc.")]


@pytest.fixture(scope="module")
def pretrained():
    """A "pretrained" single-task ResNet-18 with non-default BN statistics."""
    torch.manual_seed(0)
    model = resnet18(10)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    return model


@pytest.fixture
def student():
    torch.manual_seed(1)
    return resnet18([3, 4])


def _assert_backbone_equal(model, state):
    got = model.state_dict()
    for key in _backbone_keys(model):
        assert torch.equal(got[key], state[key]), key


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model, snapshot):
    assert all(torch.equal(v, snapshot[k]) for k, v in model.state_dict().items())


def test_round_trip_keeps_the_heads(pretrained, student):
    heads = _snapshot(student.fc)
    result = load_backbone(student, pretrained.state_dict())
    _assert_backbone_equal(student, pretrained.state_dict())
    _assert_unchanged(student.fc, heads)
    assert set(result.loaded) == set(_backbone_keys(student))
    assert sorted(result.skipped_head) == ["fc.bias", "fc.weight"]


@pytest.mark.parametrize("layout", ["torchvision", "sequential"])
def test_notop_resnet50_without_batch_counters_loads(layout):
    # RadImageNet-style "notop" weights: no fc, no num_batches_tracked; either torchvision names
    # or, as in RadImageNet's PyTorch release, a Sequential of the children under "backbone."
    torch.manual_seed(0)
    pretrained = resnet50(1000)
    want = {
        k: v
        for k, v in pretrained.state_dict().items()
        if not k.startswith("fc.") and not k.endswith("num_batches_tracked")
    }
    source = want
    if layout == "sequential":
        flat = nn.Sequential(*list(pretrained.children())[:-1])
        source = {
            f"backbone.{k}": v
            for k, v in flat.state_dict().items()
            if not k.endswith("num_batches_tracked")
        }
        assert "backbone.4.0.conv1.weight" in source
    torch.manual_seed(1)
    teacher = resnet50([2, 3])
    result = load_backbone(teacher, source)
    got = teacher.state_dict()
    assert all(torch.equal(got[k], v) for k, v in want.items())
    assert len(result.loaded) == len(want) and result.skipped_head == ()


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: {f"module.{k}": v for k, v in s.items()},
        lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}, "epoch": 3},
        lambda s: {"model": {f"backbone.{k}": v for k, v in s.items()}, "optimizer": {}},
        lambda s: {"state_dict": {f"model.encoder.{k}": v for k, v in s.items()}},
    ],
    ids=["module", "state_dict+module", "model+backbone", "state_dict+model.encoder"],
)
def test_wrapped_and_prefixed_state_dicts_load(pretrained, student, wrap):
    load_backbone(student, wrap(pretrained.state_dict()))
    _assert_backbone_equal(student, pretrained.state_dict())


@pytest.mark.parametrize("as_str", [True, False], ids=["str", "Path"])
def test_file_saved_with_torch_save_loads(pretrained, student, tmp_path, as_str):
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": pretrained.state_dict()}, path)
    load_backbone(student, str(path) if as_str else path)
    _assert_backbone_equal(student, pretrained.state_dict())


def test_missing_keys_are_listed_and_counted(pretrained, student):
    snapshot = _snapshot(student)
    state = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("layer4.")}
    with pytest.raises(PretrainedWeightsError) as info:
        load_backbone(student, state)
    message = str(info.value)
    missing = [
        k
        for k in _backbone_keys(student)
        if k.startswith("layer4.") and not k.endswith("num_batches_tracked")
    ]
    assert f"{len(missing)} missing keys: layer4.0.conv1.weight, " in message
    assert f"... and {len(missing) - 10} more" in message
    assert "unexpected" not in message and "the given state dict" in message
    _assert_unchanged(student, snapshot)


def test_unexpected_keys_and_shape_mismatches_are_listed(pretrained, student, tmp_path):
    snapshot = _snapshot(student)
    state = dict(pretrained.state_dict())
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    state["module.extra.weight"] = torch.zeros(2)
    del state["bn1.running_var"]
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError) as info:
        load_backbone(student, path)
    message = str(info.value)
    assert str(path) in message
    assert "1 missing keys: bn1.running_var" in message
    assert "1 unexpected keys: extra.weight" in message
    assert (
        "1 shape mismatches: conv1.weight (checkpoint (64, 1, 7, 7), model (64, 3, 7, 7))"
        in message
    )
    _assert_unchanged(student, snapshot)


def test_state_dict_of_another_architecture_is_rejected(student):
    with pytest.raises(PretrainedWeightsError, match="198 unexpected keys.*23 shape mismatches"):
        load_backbone(student, resnet50().state_dict())


@pytest.mark.parametrize("content", ["garbage", "truncated", "text", "not_tensors", "empty"])
def test_unreadable_or_foreign_files_name_the_file(pretrained, student, tmp_path, content):
    path = tmp_path / f"{content}.pth"
    if content == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif content == "truncated":
        torch.save(pretrained.state_dict(), path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "text":
        path.write_text("conv1.weight: 0.5\n")
    elif content == "not_tensors":
        torch.save({"epoch": 3, "weights": [1.0, 2.0]}, path)
    else:
        torch.save({}, path)
    snapshot = _snapshot(student)
    with pytest.raises(PretrainedWeightsError, match=str(path)):
        load_backbone(student, path)
    _assert_unchanged(student, snapshot)


def test_missing_file_and_wrong_source_type(student, tmp_path):
    with pytest.raises(PretrainedWeightsError, match="no such file"):
        load_backbone(student, tmp_path / "absent.pth")
    with pytest.raises(TypeError, match="checkpoint path or a state dict"):
        load_backbone(student, 42)
