"""Checkpoints: atomic writes, the previous one kept, corrupt files named with the way out."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.pipeline.training import checkpoint


def test_save_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "stage.pt"
    checkpoint.save({"epoch": 1, "w": torch.ones(3)}, path)
    checkpoint.save({"epoch": 2, "w": torch.zeros(3)}, path)
    assert checkpoint.load(path)["epoch"] == 2
    assert checkpoint.load(checkpoint.previous_path(path))["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage.prev.pt", "stage.pt"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_corrupt_checkpoint_is_named_and_the_previous_one_survives(tmp_path, damage):
    path = tmp_path / "stage.pt"
    checkpoint.save({"epoch": 1}, path)
    checkpoint.save({"epoch": 2, "w": torch.randn(100)}, path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:len(data) // 2], "garbage": b"not a checkpoint" * 10,
                      "empty": b""}[damage])
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load(path)
    assert str(path) in str(err.value) and "stage.prev.pt" in str(err.value)
    assert checkpoint.load(checkpoint.previous_path(path))["epoch"] == 1


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"payload": object()}, path)
    with pytest.raises(checkpoint.CheckpointError, match="evil.pt"):
        checkpoint.load(path)


def test_a_failed_save_leaves_the_old_checkpoint_untouched(tmp_path):
    path = tmp_path / "stage.pt"
    checkpoint.save({"epoch": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        checkpoint.save({"epoch": 2, "bad": Unpicklable()}, path)
    assert checkpoint.load(path)["epoch"] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
