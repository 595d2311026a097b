"""Atomic writes: the file and the rename that puts it in place both reach the disk."""

from __future__ import annotations

import json
import os
import stat

import numpy as np

from lorkd_kernels.pipeline import atomic_files


def _record_fsyncs(monkeypatch):
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(atomic_files.os, "fsync", fsync)
    return synced


def test_the_file_and_then_its_folder_are_synced(tmp_path, monkeypatch):
    synced = _record_fsyncs(monkeypatch)
    atomic_files.write_json(tmp_path / "a.json", {"x": 1})
    assert synced == [False, True]  # the data, then the rename in the folder
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    atomic_files.write_json(path, {"x": 1})
    try:
        with atomic_files.atomic_open(path) as handle:
            handle.write(b"half")
            raise RuntimeError("disk full")
    except RuntimeError:
        pass
    assert json.loads(path.read_text()) == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_npz_round_trip(tmp_path):
    atomic_files.write_npz(tmp_path / "d.npz", {"a": np.arange(3)})
    with np.load(tmp_path / "d.npz") as data:
        assert data["a"].tolist() == [0, 1, 2]
