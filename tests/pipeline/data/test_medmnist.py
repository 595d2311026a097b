"""MedMNIST .npz reader: official layouts, size suffixes, and a clear error for each bad file."""

from __future__ import annotations

import numpy as np
import pytest

from lorkd_kernels.pipeline.data import DataError, load_medmnist, medmnist_file, read_npz_split
from tests.pipeline.data.layouts import medmnist_arrays, write_npz


@pytest.mark.parametrize("side,rgb,name", [(28, False, "octmnist.npz"),
                                           (28, True, "pathmnist.npz"),
                                           (64, False, "octmnist_64.npz"),
                                           (64, True, "pathmnist_64.npz")])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_reads_official_layout(tmp_path, side, rgb, name, split):
    task = name.split("_")[0].removesuffix(".npz")
    arrays = medmnist_arrays(4, side, rgb, seed=side + rgb)
    write_npz(tmp_path / name, arrays)
    images, labels = load_medmnist(tmp_path, task, split)
    np.testing.assert_array_equal(images, arrays[f"{split}_images"])
    np.testing.assert_array_equal(labels, arrays[f"{split}_labels"][:, 0])
    assert images.dtype == np.uint8 and labels.dtype == np.int64 and labels.shape == (len(images),)


def test_flat_labels_are_accepted(tmp_path):
    arrays = medmnist_arrays(2)
    arrays["train_labels"] = arrays["train_labels"][:, 0].astype(np.int32)
    write_npz(tmp_path / "breastmnist.npz", arrays)
    _, labels = load_medmnist(tmp_path, "breastmnist", "train")
    np.testing.assert_array_equal(labels, arrays["train_labels"])


def test_size_picks_the_file(tmp_path):
    write_npz(tmp_path / "bloodmnist.npz", medmnist_arrays(8, 28, True))
    write_npz(tmp_path / "bloodmnist_64.npz", medmnist_arrays(8, 64, True))
    assert load_medmnist(tmp_path, "bloodmnist", "val", size=64).images.shape[1:] == (64, 64, 3)
    assert load_medmnist(tmp_path, "bloodmnist", "val", size=28).images.shape[1:] == (28, 28, 3)
    assert medmnist_file(tmp_path, "bloodmnist", 64) == (tmp_path / "bloodmnist_64.npz", 64)
    with pytest.raises(DataError, match=r"several files.*bloodmnist\.npz, bloodmnist_64\.npz"):
        load_medmnist(tmp_path, "bloodmnist", "val")
    with pytest.raises(DataError, match=r"bloodmnist_128\.npz.*holds bloodmnist\.npz"):
        load_medmnist(tmp_path, "bloodmnist", "val", size=128)


def test_missing_file_lists_the_directory(tmp_path):
    write_npz(tmp_path / "octmnist.npz", medmnist_arrays(4))
    with pytest.raises(DataError, match=r"'dermamnist'.*dermamnist\.npz.*holds octmnist\.npz"):
        load_medmnist(tmp_path, "dermamnist", "train")
    with pytest.raises(DataError, match="not a directory"):
        load_medmnist(tmp_path / "nowhere", "octmnist", "train")


def test_unknown_task_needs_num_classes(tmp_path):
    write_npz(tmp_path / "mytask.npz", medmnist_arrays(3))
    with pytest.raises(DataError, match=r"unknown MedMNIST task 'mytask'.*pathmnist"):
        load_medmnist(tmp_path, "mytask", "train")
    assert len(load_medmnist(tmp_path, "mytask", "train", num_classes=3).labels) == 12


def _bad_file(tmp_path, change):
    arrays = medmnist_arrays(4)
    change(arrays)
    return write_npz(tmp_path / "octmnist.npz", arrays)


def test_missing_key_names_file_key_and_keys_present(tmp_path):
    path = _bad_file(tmp_path, lambda a: a.pop("val_labels"))
    with pytest.raises(DataError) as err:
        load_medmnist(tmp_path, "octmnist", "val")
    message = str(err.value)
    assert str(path) in message and "'val_labels'" in message and "'val_images'" in message
    # the other splits of the same file still load
    assert len(load_medmnist(tmp_path, "octmnist", "test").images) == 6


@pytest.mark.parametrize("key,value,pattern", [
    ("train_images", np.zeros((12, 28, 28), np.float32),
     r"key 'train_images': expected dtype uint8, got float32"),
    ("train_images", np.zeros((12, 28, 28, 4), np.uint8),
     r"key 'train_images': expected shape \(N, H, W\) or \(N, H, W, 3\), got \(12, 28, 28, 4\)"),
    ("train_images", np.zeros((12, 784), np.uint8), r"key 'train_images': expected shape"),
    ("train_labels", np.zeros((12, 1), np.float64),
     r"key 'train_labels': expected an integer dtype, got float64"),
    ("train_labels", np.zeros((12, 14), np.uint8),
     r"key 'train_labels': expected shape \(N,\) or \(N, 1\).*got \(12, 14\)"),
    ("train_labels", np.zeros((11, 1), np.uint8), r"key 'train_labels': 11 labels for 12 images"),
    ("train_labels", np.array([[0]] * 5 + [[4]] + [[1]] * 6, np.uint8),
     r"key 'train_labels': label 4 at index 5 is outside \[0, 3\]"),
    ("train_labels", np.array([[0]] * 7 + [[-1]] + [[1]] * 4, np.int64),
     r"key 'train_labels': label -1 at index 7 is outside \[0, 3\]"),
], ids=["float images", "4 channels", "flat images", "float labels", "multi-label",
        "length mismatch", "label too large", "negative label"])
def test_malformed_arrays_name_file_and_key(tmp_path, key, value, pattern):
    path = _bad_file(tmp_path, lambda a: a.update({key: value}))
    with pytest.raises(DataError, match=pattern) as err:
        load_medmnist(tmp_path, "octmnist", "train")
    assert str(path) in str(err.value)


def test_image_size_must_match_the_file_name(tmp_path):
    path = write_npz(tmp_path / "octmnist_64.npz", medmnist_arrays(4, 28))
    with pytest.raises(DataError, match=r"key 'train_images': expected 64×64 images, got 28×28"):
        load_medmnist(tmp_path, "octmnist", "train")
    assert "octmnist_64.npz" in path.name


@pytest.mark.parametrize("keep", [0.5, 0.9], ids=["half", "tail cut"])
def test_truncated_file_names_the_file(tmp_path, keep):
    path = write_npz(tmp_path / "octmnist.npz", medmnist_arrays(4))
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(DataError, match="truncated or corrupt") as err:
        load_medmnist(tmp_path, "octmnist", "train")
    assert str(path) in str(err.value)


def test_corrupt_member_names_file_and_key(tmp_path):
    path = write_npz(tmp_path / "octmnist.npz", medmnist_arrays(4, 64))
    data = bytearray(path.read_bytes())
    # Damage compressed bytes well inside the first member, leaving the zip directory intact.
    for offset in range(200, 1200, 7):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"key 'train_images'.*truncated or corrupt") as err:
        load_medmnist(tmp_path, "octmnist", "train")
    assert str(path) in str(err.value)


def test_not_an_archive(tmp_path):
    path = tmp_path / "octmnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match="not a readable .npz archive"):
        load_medmnist(tmp_path, "octmnist", "train")
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(path)
    with pytest.raises(DataError, match="expected an .npz archive of named arrays"):
        load_medmnist(tmp_path, "octmnist", "train")


def test_unknown_split(tmp_path):
    path = write_npz(tmp_path / "octmnist.npz", medmnist_arrays(4))
    with pytest.raises(DataError, match=r"unknown split 'training'"):
        read_npz_split(path, "training")
