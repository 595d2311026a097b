"""Deployed experts are safetensors files whose header says what they are; a wrong file is one
clear line."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.pipeline.training import artifacts
from lorkd_kernels.pipeline.training.checkpoint import CheckpointError
from lorkd_kernels.deploy.weights_file import read_weights, save_weights


def test_an_expert_round_trips_through_safetensors(tmp_path):
    expert = build_model("shufflenet_v2_x0_5", 4).eval()
    artifacts.save_expert(tmp_path, "bloodmnist", "shufflenet_v2_x0_5", expert)
    path = tmp_path / "experts" / "bloodmnist.safetensors"
    assert read_weights(path)[1] == {
        "arch": "shufflenet_v2_x0_5",
        "num_classes": "4",
        "task": "bloodmnist",
    }
    loaded = artifacts.load_expert(tmp_path, "bloodmnist", "shufflenet_v2_x0_5", 4)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), expert(x))


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_weights_of_another_architecture_are_one_line(tmp_path):
    path = tmp_path / "experts" / "octmnist.safetensors"
    save_weights(
        build_model("resnet18", 4).state_dict(),
        path,
        {"arch": "shufflenet_v2_x0_5", "num_classes": "4"},
    )
    with pytest.raises(CheckpointError) as err:
        artifacts.load_expert(tmp_path, "octmnist")
    message = _one_line(err)
    assert str(path) in message and "does not fit ShuffleNetV2" in message
    assert "missing" in message and "; unexpected bn1.bias" in message


def test_an_expert_for_other_classes_or_arch_than_the_run_is_one_line(tmp_path):
    artifacts.save_expert(
        tmp_path, "octmnist", "shufflenet_v2_x0_5", build_model("shufflenet_v2_x0_5", 3)
    )
    with pytest.raises(CheckpointError) as err:
        artifacts.load_expert(tmp_path, "octmnist", "shufflenet_v2_x0_5", 4)
    assert (
        "holds a shufflenet_v2_x0_5 with 3 classes, the run expects a shufflenet_v2_x0_5 "
        "with 4" in _one_line(err)
    )
    with pytest.raises(CheckpointError, match="the run expects a resnet18"):
        artifacts.load_expert(tmp_path, "octmnist", "resnet18")


def test_a_header_without_the_architecture_or_an_unknown_one_is_one_line(tmp_path):
    path = tmp_path / "experts" / "octmnist.safetensors"
    save_weights(build_model("resnet18", 4).state_dict(), path)
    with pytest.raises(CheckpointError, match="lacks the arch / num_classes header"):
        artifacts.load_expert(tmp_path, "octmnist")
    save_weights(
        build_model("resnet18", 4).state_dict(), path, {"arch": "vgg16", "num_classes": "4"}
    )
    with pytest.raises(CheckpointError) as err:
        artifacts.load_expert(tmp_path, "octmnist")
    assert _one_line(err).startswith(f"{path}: unknown model 'vgg16'")
