"""Checkpoints: atomic writes, the previous one kept and used when the latest is unreadable,
corrupt files named with the way out."""

from __future__ import annotations

import os
import subprocess

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
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10, "empty": b""}[
            damage
        ]
    )
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


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _two_saves(tmp_path):
    path = tmp_path / "stage.pt"
    checkpoint.save({"epoch": 1, "w": torch.ones(100)}, path)
    checkpoint.save({"epoch": 2, "w": torch.zeros(100)}, path)
    return path


def test_load_latest_falls_back_to_the_previous_checkpoint_and_says_so(tmp_path):
    path = _two_saves(tmp_path)
    state, warning = checkpoint.load_latest(path)
    assert state["epoch"] == 2 and warning is None
    _truncate(path)
    state, warning = checkpoint.load_latest(path)
    assert state["epoch"] == 1
    assert warning.startswith(f"warning: checkpoint {path} is corrupt")
    assert warning.endswith(f"using the previous checkpoint {checkpoint.previous_path(path)}")


@pytest.mark.parametrize("previous", ["truncated", "missing"])
def test_load_latest_names_both_files_when_neither_is_usable(tmp_path, previous):
    path = _two_saves(tmp_path)
    backup = checkpoint.previous_path(path)
    _truncate(path)
    _truncate(backup) if previous == "truncated" else backup.unlink()
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load_latest(path)
    message = str(err.value)
    assert message.startswith(f"checkpoint {path} is corrupt") and backup.name in message
    assert ("unusable too" if previous == "truncated" else "no previous checkpoint") in message


def test_a_save_over_a_truncated_checkpoint_keeps_the_good_previous_one(tmp_path):
    path = _two_saves(tmp_path)
    _truncate(path)
    checkpoint.save({"epoch": 3}, path)
    assert checkpoint.load(path)["epoch"] == 3
    assert checkpoint.load(checkpoint.previous_path(path))["epoch"] == 1


def test_a_save_removes_what_a_killed_save_left_behind(tmp_path):
    path = _two_saves(tmp_path)
    # A save killed after keeping the previous checkpoint: both names are one file, and the
    # temporary file of the new checkpoint is half written.
    backup = checkpoint.previous_path(path)
    backup.unlink()
    os.link(path, backup)
    (tmp_path / ".stage.pt.1234.abcdef12.tmp").write_bytes(b"half a checkpoint")
    checkpoint.save({"epoch": 3}, path)
    assert checkpoint.load(path)["epoch"] == 3
    assert checkpoint.load(backup)["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage.prev.pt", "stage.pt"]


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs (needs the right to mount: root on Linux), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip() or 'no mount'}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_names_the_checkpoint_and_keeps_the_previous_one(small_disk):
    path = small_disk / "stage.pt"
    checkpoint.save({"epoch": 1, "w": torch.ones(100)}, path)
    with pytest.raises((checkpoint.CheckpointError, OSError)) as failure:
        checkpoint.save({"epoch": 2, "w": torch.zeros(100_000)}, path)  # 400 KB
    message = str(failure.value)
    assert str(path) in message and "\n" not in message.strip()
    assert checkpoint.load(path)["epoch"] == 1
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".tmp")]
