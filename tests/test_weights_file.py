"""safetensors weight files: round trip with a header, and one clear line for a file that does
not fit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels.deploy.weights_file import (
    WeightsFileError,
    load_weights,
    read_weights,
    save_weights,
)


def _net(width: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3), nn.BatchNorm2d(width), nn.Flatten(), nn.Linear(width, 2)
    )


def test_round_trip_keeps_every_tensor_and_the_header(tmp_path):
    source, target = _net(), _net()
    source[1].running_mean.normal_()
    path = save_weights(
        source.state_dict(), tmp_path / "sub" / "net.safetensors", {"arch": "toy", "classes": "2"}
    )
    assert load_weights(target, path) == {"arch": "toy", "classes": "2"}
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    assert [p.name for p in path.parent.iterdir()] == ["net.safetensors"]  # no temporary left


def test_a_file_of_another_shape_is_one_line_naming_file_keys_and_shapes(tmp_path):
    path = save_weights(_net(6).state_dict(), tmp_path / "wide.safetensors")
    target = _net(4)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(WeightsFileError) as err:
        load_weights(target, path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "Sequential" in message
    assert "0.weight is (6, 3, 3, 3) in the file, (4, 3, 3, 3) in the model" in message
    assert all(torch.equal(target.state_dict()[k], v) for k, v in before.items())  # untouched


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    state = _net().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["3.bias"]
    path = save_weights(state, tmp_path / "net.safetensors")
    with pytest.raises(WeightsFileError, match=r"missing 3\.bias; unexpected extra\.weight"):
        load_weights(_net(), path)
    load_weights(_net(), save_weights(_net().state_dict(), path), may_lack=())


def test_damaged_files_and_bad_headers_are_refused_clearly(tmp_path):
    path = save_weights(_net().state_dict(), tmp_path / "net.safetensors")
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(WeightsFileError, match="not a safetensors file or is damaged"):
        read_weights(path)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        read_weights(tmp_path / "absent.safetensors")
    with pytest.raises(TypeError, match="strings only"):
        save_weights(_net().state_dict(), path, {"classes": 2})
