"""MedMNIST .npz reader: official layouts, size suffixes, and a clear error for each bad file."""

from __future__ import annotations

import numpy as np
import pytest

from lorkd_kernels.pipeline.data import (
    MEDMNIST_2D_TASKS,
    MEDMNIST_TASKS,
    MULTILABEL_TASKS,
    DataError,
    decode_multilabel,
    load_medmnist,
    load_tasks,
    medmnist_file,
    read_npz_split,
)
from tests.pipeline.data.layouts import medmnist_arrays, write_npz


@pytest.mark.parametrize(
    "side,rgb,name",
    [
        (28, False, "octmnist.npz"),
        (28, True, "pathmnist.npz"),
        (64, False, "octmnist_64.npz"),
        (64, True, "pathmnist_64.npz"),
    ],
)
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


@pytest.mark.parametrize(
    "key,value,pattern",
    [
        (
            "train_images",
            np.zeros((12, 28, 28), np.float32),
            r"key 'train_images': expected dtype uint8, got float32",
        ),
        (
            "train_images",
            np.zeros((12, 28, 28, 4), np.uint8),
            r"key 'train_images': expected shape \(N, H, W\) or \(N, H, W, 3\), "
            r"got \(12, 28, 28, 4\)",
        ),
        ("train_images", np.zeros((12, 784), np.uint8), r"key 'train_images': expected shape"),
        (
            "train_labels",
            np.zeros((12, 1), np.float64),
            r"key 'train_labels': expected an integer dtype, got float64",
        ),
        (
            "train_labels",
            np.zeros((12, 14), np.uint8),
            r"key 'train_labels': expected shape \(N,\) or \(N, 1\).*got \(12, 14\)",
        ),
        (
            "train_labels",
            np.zeros((11, 1), np.uint8),
            r"key 'train_labels': 11 labels for 12 images",
        ),
        (
            "train_labels",
            np.array([[0]] * 5 + [[4]] + [[1]] * 6, np.uint8),
            r"key 'train_labels': label 4 at index 5 is outside \[0, 3\]",
        ),
        (
            "train_labels",
            np.array([[0]] * 7 + [[-1]] + [[1]] * 4, np.int64),
            r"key 'train_labels': label -1 at index 7 is outside \[0, 3\]",
        ),
    ],
    ids=[
        "float images",
        "4 channels",
        "flat images",
        "float labels",
        "multi-label",
        "length mismatch",
        "label too large",
        "negative label",
    ],
)
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
    path.write_bytes(data[: int(len(data) * keep)])
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


@pytest.fixture(scope="module")
def every_2d_file(tmp_path_factory):
    """Every MedMNIST 2D set at 28 (no suffix) and 64, RGB where MedMNIST's is."""
    root = tmp_path_factory.mktemp("medmnist")
    rgb_sets = {"pathmnist", "dermamnist", "retinamnist", "bloodmnist"}
    for seed, (task, classes) in enumerate(MEDMNIST_2D_TASKS.items()):
        for side, name in ((28, f"{task}.npz"), (64, f"{task}_64.npz")):
            write_npz(
                root / name,
                medmnist_arrays(
                    classes, side, task in rgb_sets, seed, multilabel=task in MULTILABEL_TASKS
                ),
            )
    return root


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("split", ["train", "test"])
def test_every_2d_set_at_two_sizes(every_2d_file, size, split):
    tasks = list(MEDMNIST_2D_TASKS)
    data = load_tasks("medmnist", every_2d_file, tasks, split, image_size=16, size=size)
    assert data.task_names == tasks and data.num_classes == list(MEDMNIST_2D_TASKS.values())
    assert data.multilabel == [t == "chestmnist" for t in tasks]
    for task_id, task in enumerate(tasks):
        arrays = np.load(every_2d_file / (f"{task}_64.npz" if size == 64 else f"{task}.npz"))
        subset = data.datasets[task_id]
        image, label, tid = subset[0]
        assert image.shape == (3, 16, 16) and tid.item() == task_id  # resized on the fly
        expected = arrays[f"{split}_labels"]
        if task == "chestmnist":
            np.testing.assert_array_equal(decode_multilabel(subset.labels, 14).numpy(), expected)
        else:
            np.testing.assert_array_equal(subset.labels.numpy(), expected[:, 0])


def test_the_paper_s_ten_sets_stay_the_default(every_2d_file):
    data = load_tasks("medmnist", every_2d_file, None, "val", size=28)
    assert data.task_names == list(MEDMNIST_TASKS)
    assert "chestmnist" not in data.task_names and "retinamnist" not in data.task_names


def test_retinamnist_is_five_classes(every_2d_file):
    data = load_tasks("medmnist", every_2d_file, ["retinamnist"], "train", size=64)
    assert data.num_classes == [5] and data.multilabel == [False]
    assert set(data.datasets[0].labels.tolist()) == set(range(5))


@pytest.mark.parametrize("size", [128, 224])
def test_medmnist_plus_file_names(tmp_path, size):
    write_npz(
        tmp_path / f"pneumoniamnist_{size}.npz",
        medmnist_arrays(2, size, sizes={"train": 2, "val": 2, "test": 2}),
    )
    assert load_medmnist(tmp_path, "pneumoniamnist", "test").images.shape == (2, size, size)


def test_chestmnist_with_one_label_per_image_names_the_file(tmp_path):
    arrays = medmnist_arrays(14)  # (N, 1) labels: not ChestMNIST's layout
    path = write_npz(tmp_path / "chestmnist.npz", arrays)
    with pytest.raises(DataError) as err:
        load_medmnist(tmp_path, "chestmnist", "train")
    assert str(err.value) == (
        f"{path}, key 'train_labels': expected shape (12, 14), one 0/1 "
        "column per label of this multi-label task, got (12, 1)"
    )


def test_multilabel_labels_on_a_single_label_set_name_the_file(tmp_path):
    path = write_npz(tmp_path / "pathmnist.npz", medmnist_arrays(9, multilabel=True))
    with pytest.raises(
        DataError,
        match=rf"^{path}, key 'train_labels': expected shape \(N,\) "
        r"or \(N, 1\).*got \(12, 9\)",
    ):
        load_medmnist(tmp_path, "pathmnist", "train")


def test_chestmnist_labels_other_than_0_1(tmp_path):
    arrays = medmnist_arrays(14, multilabel=True)
    arrays["val_labels"][2, 5] = 2
    path = write_npz(tmp_path / "chestmnist.npz", arrays)
    with pytest.raises(
        DataError,
        match=rf"^{path}, key 'val_labels': row 2 holds .*only 0 "
        "and 1",
    ):
        load_medmnist(tmp_path, "chestmnist", "val")


def test_a_3d_file_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        f"{split}_{kind}": value
        for split in ("train", "val", "test")
        for kind, value in (
            ("images", rng.integers(0, 256, (3, 28, 28, 28), np.uint8)),
            ("labels", np.zeros((3, 1), np.uint8)),
        )
    }
    path = write_npz(tmp_path / "organamnist.npz", arrays)  # organmnist3d's layout
    with pytest.raises(DataError) as err:
        load_medmnist(tmp_path, "organamnist", "train")
    assert str(err.value) == (
        f"{path}, key 'train_images': shape (3, 28, 28, 28) holds 3D "
        "volumes (a MedMNIST 3D file); only 2D images (N, H, W) or "
        "(N, H, W, 3) are supported"
    )


def test_a_3d_set_by_name(tmp_path):
    with pytest.raises(
        DataError,
        match=r"^'organmnist3d' is a MedMNIST 3D set; only the 2D "
        r"sets are supported: pathmnist.*retinamnist$",
    ):
        load_tasks("medmnist", tmp_path, ["pathmnist", "organmnist3d"], "train")


def test_a_member_declaring_a_huge_shape_is_one_data_error(tmp_path):
    """A header may declare any shape; numpy then fails to allocate it (its MemoryError)."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (10**7, 10**6, 28)}
    )
    path = tmp_path / "octmnist.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train_images.npy", header.getvalue() + b"\0" * 64)
        archive.writestr("train_labels.npy", b"")
    with pytest.raises(DataError, match=r"key 'train_images'.*declares more data than fits"):
        load_medmnist(tmp_path, "octmnist", "train")
