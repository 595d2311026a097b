"""Datasets: tensor shapes, dtypes, normalisation, gray to RGB, resizing, loading by source."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lorkd_kernels.pipeline.data import (
    MEDMNIST_2D_TASKS,
    SYNTHETIC_TASKS,
    DataError,
    MultiTaskDataset,
    TaskDataset,
    load_tasks,
)
from lorkd_kernels.pipeline.data import datasets as datasets_module
from lorkd_kernels.pipeline.data.labels import decode_multilabel
from tests.pipeline.data.layouts import medmnist_arrays, write_npz


def _gray(n=5, side=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), np.arange(n) % 3


def test_item_types_and_normalisation():
    images, labels = _gray()
    images[0] = 0
    images[1] = 255
    dataset = TaskDataset(images, labels[:, None], task_id=2)
    image, label, task = dataset[1]
    assert image.shape == (3, 8, 8) and image.dtype == torch.float32
    assert label.dtype == torch.int64 and label.shape == () and label.item() == 1
    assert task.dtype == torch.int64 and task.shape == () and task.item() == 2
    assert torch.all(image == 1.0) and torch.all(dataset[0][0] == -1.0)
    raw = torch.from_numpy(images[3]).float()
    torch.testing.assert_close(dataset[3][0][0], (raw / 255 - 0.5) / 0.5)
    # gray is repeated to three identical channels
    assert torch.equal(dataset[3][0][0], dataset[3][0][2])
    assert dataset.num_classes == 3 and len(dataset) == 5


def test_rgb_channels_keep_their_order():
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[..., 0], images[..., 2] = 255, 51
    image = TaskDataset(images, np.array([0, 1]), 0)[0][0]
    assert image[0].eq(1).all() and image[1].eq(-1).all()
    torch.testing.assert_close(image[2], torch.full((4, 4), 51 / 255 * 2 - 1))


def test_resize_uses_antialiased_bilinear():
    images = np.zeros((1, 16, 16), np.uint8)
    # One bright column in four: plain bilinear at 4× reduction samples between the dark
    # columns and sees black; an antialiased filter sees the mean, a quarter of full scale.
    images[0, :, ::4] = 255
    small = TaskDataset(images, np.array([0]), 0, image_size=4)[0][0]
    assert small.shape == (3, 4, 4)
    torch.testing.assert_close(small, torch.full((3, 4, 4), -0.5), atol=0.15, rtol=0)
    flat = np.full((1, 8, 8), 200, np.uint8)
    large = TaskDataset(flat, np.array([0]), 0, image_size=20)[0][0]
    torch.testing.assert_close(large, torch.full((3, 20, 20), 200 / 255 * 2 - 1))


def test_items_do_not_share_memory_with_the_cache():
    images, labels = _gray()
    dataset = TaskDataset(images, labels, 0)
    before = dataset[0][0].clone()
    dataset[0][0].add_(5)
    assert torch.equal(dataset[0][0], before)


def test_per_item_conversion_matches_the_cache(monkeypatch):
    images, labels = _gray(seed=1)
    cached = TaskDataset(images, labels, 0, image_size=6)
    monkeypatch.setattr(datasets_module, "CACHE_BYTES", 0)
    lazy = TaskDataset(images, labels, 0, image_size=6)
    assert cached._cache is not None and lazy._cache is None
    for i in range(len(images)):
        torch.testing.assert_close(lazy[i][0], cached[i][0])


def test_augment_flips_horizontally_some_of_the_time():
    images, labels = _gray(n=1)
    plain = TaskDataset(images, labels, 0)[0][0]
    augmented = TaskDataset(images, labels, 0, augment=True)
    torch.manual_seed(0)
    seen = [augmented[0][0] for _ in range(40)]
    flips = sum(torch.equal(x, plain.flip(-1)) for x in seen)
    assert sum(torch.equal(x, plain) for x in seen) + flips == 40
    assert 8 <= flips <= 32


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"images": np.zeros((3, 4, 4), np.float32)}, "task0 images: expected dtype uint8"),
        ({"images": np.zeros((3, 4, 4, 2), np.uint8)}, r"task0 images: expected shape"),
        ({"labels": np.array([0, 1])}, "task0 labels: 2 labels for 3 images"),
        (
            {"labels": np.array([0, 1, 5]), "num_classes": 3},
            r"label 5 at index 2 is outside \[0, 2\]",
        ),
        ({"task_id": -1}, "task_id must be a non-negative integer"),
        ({"image_size": 0}, "image_size must be a positive integer"),
    ],
)
def test_bad_dataset_arguments(kwargs, pattern):
    args = {
        "images": np.zeros((3, 4, 4), np.uint8),
        "labels": np.array([0, 1, 2]),
        "task_id": 0,
        **kwargs,
    }
    with pytest.raises(DataError, match=pattern):
        TaskDataset(**args)


def _multi(lengths=(5, 2, 7)):
    parts = [TaskDataset(*_gray(n, seed=t), task_id=t, name=f"t{t}") for t, n in enumerate(lengths)]
    return MultiTaskDataset(parts)


def test_multitask_dataset_bookkeeping():
    dataset = _multi()
    assert len(dataset) == 14 and dataset.num_tasks == 3
    assert dataset.task_names == ["t0", "t1", "t2"] and dataset.task_lengths == [5, 2, 7]
    assert dataset.num_classes == [3, 2, 3]
    for index in range(len(dataset)):
        task = dataset.task_of_index(index)
        assert index in dataset.task_indices(task) and dataset[index][2].item() == task
    assert dataset.task_of_index(-1) == 2 and list(dataset.task_indices(1)) == [5, 6]
    with pytest.raises(IndexError):
        dataset.task_of_index(14)


def test_multitask_dataset_checks_task_order():
    first = TaskDataset(*_gray(), task_id=0)
    with pytest.raises(DataError, match=r"task 1 \(task3\) has task_id 3"):
        MultiTaskDataset([first, TaskDataset(*_gray(), task_id=3)])
    with pytest.raises(DataError, match="at least one task"):
        MultiTaskDataset([])
    with pytest.raises(DataError, match="2 task names for 1 tasks"):
        MultiTaskDataset([first], ["a", "b"])


def test_loader_batches_mixed_tasks():
    loader = DataLoader(
        _multi(), batch_size=6, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    images, labels, tasks = next(iter(loader))
    assert images.shape == (6, 3, 8, 8) and images.dtype == torch.float32
    assert labels.shape == (6,) and labels.dtype == torch.int64
    assert tasks.shape == (6,) and tasks.dtype == torch.int64
    assert sum(len(batch[0]) for batch in loader) == 14


def test_load_tasks_synthetic(tmp_path):
    options = {"train_size": 12, "val_size": 6, "test_size": 6}
    dataset = load_tasks(
        "synthetic", tmp_path, ["retina", "skin"], "val", image_size=16, synthetic_options=options
    )
    assert dataset.task_names == ["retina", "skin"]
    assert dataset.num_classes == [SYNTHETIC_TASKS["retina"], SYNTHETIC_TASKS["skin"]]
    image, _, task = dataset[len(dataset) - 1]
    assert image.shape == (3, 16, 16) and task.item() == 1
    everything = load_tasks("synthetic", tmp_path, None, "test", size=32, synthetic_options=options)
    assert everything.task_names == list(SYNTHETIC_TASKS)
    with pytest.raises(DataError, match=r"unknown synthetic task\(s\) \['pathmnist'\].*tissue"):
        load_tasks("synthetic", tmp_path, ["pathmnist"], "train", synthetic_options=options)
    with pytest.raises(DataError, match="size=16 disagrees"):
        load_tasks(
            "synthetic",
            tmp_path,
            None,
            "train",
            size=16,
            synthetic_options={**options, "image_size": 32},
        )


def test_load_tasks_medmnist(tmp_path):
    write_npz(tmp_path / "pathmnist_64.npz", medmnist_arrays(9, 64, rgb=True))
    write_npz(tmp_path / "octmnist_64.npz", medmnist_arrays(4, 64))
    dataset = load_tasks(
        "medmnist",
        tmp_path,
        ["octmnist", "pathmnist"],
        "train",
        image_size=28,
        augment=True,
        size=64,
    )
    assert dataset.num_classes == [4, 9] and len(dataset) == 24
    assert dataset[0][0].shape == (3, 28, 28) and dataset[23][2].item() == 1
    with pytest.raises(DataError, match=r"unknown medmnist task\(s\) \['xraymnist'\]") as err:
        load_tasks("medmnist", tmp_path, ["xraymnist"], "train")
    assert all(task in str(err.value) for task in MEDMNIST_2D_TASKS)
    with pytest.raises(DataError, match=r"listed more than once"):
        load_tasks("medmnist", tmp_path, ["octmnist", "octmnist"], "train", size=64)


def test_load_tasks_rejects_unknown_source(tmp_path):
    with pytest.raises(DataError, match=r"unknown data source 'imagenet'.*'radimagenet'"):
        load_tasks("imagenet", tmp_path, None, "train")
    with pytest.raises(DataError, match="only apply to the synthetic source"):
        load_tasks("medmnist", tmp_path, None, "train", synthetic_options={"seed": 1})


def test_multilabel_task_carries_bit_codes():
    rng = np.random.default_rng(0)
    matrix = (rng.random((6, 14)) < 0.3).astype(np.uint8)
    images = rng.integers(0, 256, (6, 8, 8), dtype=np.uint8)
    chest = TaskDataset(images, matrix, 1, num_classes=14, name="chest", multilabel=True)
    single = TaskDataset(images, np.arange(6) % 3, 0, num_classes=3)
    assert chest.multilabel and not single.multilabel
    codes = torch.stack([chest[i][1] for i in range(6)])
    assert codes.dtype == torch.int64
    np.testing.assert_array_equal(decode_multilabel(codes, 14).numpy(), matrix)
    both = MultiTaskDataset([single, chest])
    assert both.multilabel == [False, True] and both.num_classes == [3, 14]
    batch = next(iter(DataLoader(both, batch_size=12)))  # mixed tasks still stack
    assert batch[1].shape == (12,)
    with pytest.raises(DataError, match=r"chest labels: expected shape \(6, 14\)"):
        TaskDataset(images, matrix[:, :13], 1, num_classes=14, name="chest", multilabel=True)
    with pytest.raises(DataError, match="needs num_classes"):
        TaskDataset(images, matrix, 1, multilabel=True)
