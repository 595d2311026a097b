"""Image-folder reader: label ids from sorted class names, resizing, gray vs RGB, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lorkd_kernels.pipeline.data import (
    DataError,
    folder_class_names,
    folder_tasks,
    load_image_folder,
    load_tasks,
)
from tests.pipeline.data.layouts import image_folder, write_image


def _gray(value, side=16):
    return np.full((side, side), value, np.uint8)


def _rgb(rgb, side=16):
    return np.broadcast_to(np.array(rgb, np.uint8), (side, side, 3)).copy()


@pytest.fixture
def ct_folder(tmp_path):
    """Gray task 'ct': train has classes b_lung, a_liver, c_kidney; test lacks c_kidney."""
    return image_folder(
        tmp_path,
        "ct",
        {
            "train": {
                "b_lung": [_gray(10), _gray(20)],
                "a_liver": [_gray(30)],
                "c_kidney": [_gray(40, 24)],
            },
            "test": {"a_liver": [_gray(50)], "b_lung": [_gray(60)]},
        },
    )


def test_labels_follow_sorted_class_names(ct_folder):
    assert folder_class_names(ct_folder, "ct") == ["a_liver", "b_lung", "c_kidney"]
    images, labels = load_image_folder(ct_folder, "ct", "train")
    assert images.shape == (4, 16, 16) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    # one image per entry, in class then file order; the 24×24 image is resized to 16×16
    assert labels.tolist() == [0, 1, 1, 2]
    assert images[:, 0, 0].tolist() == [30, 10, 20, 40]


def test_class_ids_agree_across_splits(ct_folder):
    _, labels = load_image_folder(ct_folder, "ct", "test")
    assert labels.tolist() == [0, 1]  # c_kidney is absent but keeps id 2
    dataset = load_tasks("folder", ct_folder, ["ct"], "test")
    assert dataset.num_classes == [3] and dataset.task_names == ["ct"]


def test_resizes_to_image_size_and_mixes_gray_into_rgb(tmp_path):
    root = image_folder(
        tmp_path, "derm", {"val": {"mole": [_rgb((200, 100, 50), 20)], "scar": [_gray(90, 12)]}}
    )
    images, labels = load_image_folder(root, "derm", "val", image_size=8)
    assert images.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(images[0], _rgb((200, 100, 50), 8))
    np.testing.assert_array_equal(images[1], _rgb((90, 90, 90), 8))
    assert labels.tolist() == [0, 1]


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    path = tmp_path / "xr" / "train" / "a" / "deep.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 65535 // 2, np.uint16)).save(path)
    images, _ = load_image_folder(tmp_path, "xr", "train")
    assert images.shape == (1, 8, 8) and int(images[0, 0, 0]) == 127


def test_other_suffixes_and_case(tmp_path):
    base = tmp_path / "t" / "train" / "c"
    write_image(base / "a.JPG", _gray(100))
    write_image(base / "b.bmp", _gray(100))
    write_image(base / "c.tif", _gray(100))
    (base / "notes.txt").write_text("not an image")
    images, _ = load_image_folder(tmp_path, "t", "train")
    assert len(images) == 3


def test_errors_name_what_is_missing(ct_folder):
    with pytest.raises(DataError, match=r"no task directory .*mri.*holds tasks \['ct'\]"):
        load_image_folder(ct_folder, "mri", "train")
    with pytest.raises(DataError, match=r"no split directory .*val"):
        load_image_folder(ct_folder, "ct", "val")
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_image_folder(ct_folder, "ct", "dev")
    (ct_folder / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"empty: no class directories"):
        load_image_folder(ct_folder, "empty", "train")
    assert folder_tasks(ct_folder) == ["ct", "empty"]
    with pytest.raises(DataError, match=r"unknown image folder .*task\(s\) \['mri'\].*ct, empty"):
        load_tasks("folder", ct_folder, ["mri"], "train")


def test_split_without_images(tmp_path):
    (tmp_path / "t" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match=r"train: no images"):
        load_image_folder(tmp_path, "t", "train")


def test_unreadable_image_is_named(ct_folder):
    bad = ct_folder / "ct" / "train" / "b_lung" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="cannot read the image") as err:
        load_image_folder(ct_folder, "ct", "train")
    assert str(bad) in str(err.value)


def test_float_images_are_refused(tmp_path):
    path = tmp_path / "t" / "train" / "a" / "f.tiff"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4), np.float32)).save(path)
    with pytest.raises(DataError, match="floating-point images are not supported") as err:
        load_image_folder(tmp_path, "t", "train")
    assert str(path) in str(err.value)
