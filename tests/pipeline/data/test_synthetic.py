"""Synthetic benchmark: deterministic, MedMNIST layout, balanced, learnable but conflicting."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from lorkd_kernels.pipeline.data import (
    SYNTHETIC_TASKS,
    DataError,
    ensure_synthetic_benchmark,
    load_medmnist,
    make_synthetic_benchmark,
)
from lorkd_kernels.pipeline.data.synthetic import MANIFEST_NAME
from lorkd_kernels.pipeline.data.synthetic_cues import CUES
from lorkd_kernels.pipeline.data.synthetic_tasks import TASK_SPECS, render_split

SMALL = {"train_size": 96, "val_size": 24, "test_size": 48}


def _arrays(root):
    out = {}
    for task in SYNTHETIC_TASKS:
        with np.load(root / f"{task}.npz", allow_pickle=False) as npz:
            out.update({f"{task}/{key}": npz[key] for key in npz.files})
    return out


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return root, make_synthetic_benchmark(root, seed=3, **SMALL)


def test_task_list():
    assert len(SYNTHETIC_TASKS) >= 6
    assert all(2 <= k <= 8 for k in SYNTHETIC_TASKS.values())
    assert {spec.channels for spec in TASK_SPECS} == {1, 3}
    assert len({spec.cue for spec in TASK_SPECS}) == len(TASK_SPECS)  # one deciding cue each


def test_same_seed_same_bytes_other_seed_differs(small_benchmark, tmp_path):
    root, manifest = small_benchmark
    again = make_synthetic_benchmark(tmp_path / "again", seed=3, **SMALL)
    assert again["files"] == manifest["files"]
    first, second = _arrays(root), _arrays(tmp_path / "again")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    make_synthetic_benchmark(tmp_path / "other", seed=4, **SMALL)
    other = _arrays(tmp_path / "other")
    for key in first:
        if key.endswith("_images"):
            assert not np.array_equal(first[key], other[key]), key


def test_loads_through_the_medmnist_reader(small_benchmark):
    root, manifest = small_benchmark
    assert manifest["tasks"] == SYNTHETIC_TASKS
    for spec in TASK_SPECS:
        for split in ("train", "val", "test"):
            images, labels = load_medmnist(root, spec.name, split, num_classes=spec.num_classes)
            expected = (SMALL[f"{split}_size"], 32, 32) + ((3,) if spec.channels == 3 else ())
            assert images.shape == expected and images.dtype == np.uint8
            assert labels.min() >= 0 and labels.max() < spec.num_classes
            assert images.std() > 10, "images should not be flat"
    with np.load(root / "tissue.npz", allow_pickle=False) as npz:
        assert npz["train_labels"].shape == (96, 1) and npz["train_labels"].dtype == np.uint8


def test_classes_balanced_and_noise_rate():
    for spec in TASK_SPECS:
        _, labels, cue_classes = render_split(spec, "train", 600, 0, 16, 0.1, 1.0)
        clean = cue_classes[spec.cue]
        counts = np.bincount(clean, minlength=spec.num_classes)
        assert counts.max() - counts.min() <= 1
        noisy = np.bincount(labels, minlength=spec.num_classes)
        assert noisy.min() >= 0.6 * 600 / spec.num_classes
        assert 0.06 <= np.mean(labels != clean) <= 0.14


def test_splits_are_independent_of_other_split_sizes():
    spec = TASK_SPECS[0]
    small = render_split(spec, "test", 40, 0, 16, 0.1, 1.0)
    other_train = render_split(spec, "train", 40, 0, 16, 0.1, 1.0)
    assert np.array_equal(small[0], render_split(spec, "test", 40, 0, 16, 0.1, 1.0)[0])
    assert not np.array_equal(small[0], other_train[0])


def test_image_size_parameter(tmp_path):
    make_synthetic_benchmark(tmp_path, image_size=16, train_size=8, val_size=0, test_size=2)
    images, _ = load_medmnist(tmp_path, "organ", "test", num_classes=SYNTHETIC_TASKS["organ"])
    assert images.shape == (2, 16, 16)
    assert load_medmnist(tmp_path, "organ", "val", num_classes=6).images.shape == (0, 16, 16)


def test_ensure_reuses_matching_files_and_regenerates_otherwise(tmp_path):
    params = dict(seed=1, train_size=16, val_size=4, test_size=8)
    first = ensure_synthetic_benchmark(tmp_path, **params)
    path = tmp_path / "skin.npz"
    os.utime(path, ns=(1, 1))
    assert ensure_synthetic_benchmark(tmp_path, **params) == first
    assert path.stat().st_mtime_ns == 1, "a matching benchmark must not be rewritten"
    changed = ensure_synthetic_benchmark(tmp_path, **{**params, "seed": 2})
    assert changed["parameters"]["seed"] == 2 and changed["files"] != first["files"]
    assert json.loads((tmp_path / MANIFEST_NAME).read_text()) == changed
    # a damaged file no longer matches its recorded hash, so it is redrawn
    path.write_bytes(path.read_bytes()[:100])
    ensure_synthetic_benchmark(tmp_path, **{**params, "seed": 2})
    assert load_medmnist(tmp_path, "skin", "test", num_classes=4).images.shape[0] == 8
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "bad,pattern",
    [
        ({"seed": -1}, "seed"),
        ({"image_size": 4}, "at least 8"),
        ({"train_size": 2.5}, "train_size"),
        ({"label_noise": 1.0}, "label_noise"),
        ({"distractors": -0.5}, "distractors"),
    ],
)
def test_bad_parameters(tmp_path, bad, pattern):
    with pytest.raises(DataError, match=pattern):
        make_synthetic_benchmark(tmp_path, **bad)
    assert not list(tmp_path.iterdir())


# A cheap probe: ridge regression on coarse pixels and the log power spectrum (which sees
# orientation, size and layer spacing wherever they sit in the image).
def _features(images):
    x = images.astype(np.float32) / 255
    x = (x[..., None] if x.ndim == 3 else x).transpose(0, 3, 1, 2)
    n, c, h, w = x.shape
    coarse = x.reshape(n, c, 8, h // 8, 8, w // 8).mean((3, 5)).reshape(n, -1)
    power = np.abs(np.fft.fft2(x - x.mean((2, 3), keepdims=True)))
    power = np.fft.fftshift(power, axes=(2, 3)).reshape(n, c, h // 4, 4, w // 4, 4).mean((3, 5))
    return np.concatenate([coarse, np.log1p(power.reshape(n, -1))], 1)


def _probe_accuracy(train_x, train_y, test_x, test_y, classes, ridge=10.0):
    a, b = torch.from_numpy(train_x).double(), torch.from_numpy(test_x).double()
    mean, std = a.mean(0), a.std(0, correction=0) + 1e-6
    a = torch.cat([(a - mean) / std, torch.ones(len(a), 1, dtype=a.dtype)], 1)
    b = torch.cat([(b - mean) / std, torch.ones(len(b), 1, dtype=b.dtype)], 1)
    target = torch.nn.functional.one_hot(torch.from_numpy(train_y), classes).double()
    gram = a.T @ a + ridge * torch.eye(a.shape[1], dtype=a.dtype)
    weights = torch.linalg.solve(gram, a.T @ target)
    return float(((b @ weights).argmax(1) == torch.from_numpy(test_y)).double().mean())


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    # The probes' small solves run several times faster on one thread when other processes
    # compete for the cores; torch lets the thread count be set (numpy's BLAS does not).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _probe_set(distractors):
    data = {}
    for spec in TASK_SPECS:
        train = render_split(spec, "train", 480, 0, 32, 0.1, distractors)
        test = render_split(spec, "test", 480, 0, 32, 0.1, distractors)
        data[spec.name] = (
            _features(train[0]),
            train[1],
            train[2],
            _features(test[0]),
            test[1],
            test[2],
        )
    return data


@pytest.fixture(scope="module")
def probe_data():
    return _probe_set(1.0)


@pytest.mark.parametrize("spec", TASK_SPECS, ids=lambda s: s.name)
def test_every_task_is_learnable(probe_data, spec):
    train_x, train_y, _, test_x, test_y, _ = probe_data[spec.name]
    chance = 1 / spec.num_classes
    accuracy = _probe_accuracy(train_x, train_y, test_x, test_y, spec.num_classes)
    assert accuracy >= chance + 0.15, f"{spec.name}: {accuracy:.2f} vs chance {chance:.2f}"
    # 10% of the labels are wrong, so even a perfect reader stays below 100%
    assert accuracy < 0.95


def _readable_cues(data, spec, margin=0.08):
    train_x, _, train_cues, test_x, _, test_cues = data[spec.name]
    return [
        cue
        for cue, (classes, _) in CUES.items()
        if cue != spec.cue
        and _probe_accuracy(train_x, train_cues[cue], test_x, test_cues[cue], classes)
        >= 1 / classes + margin
    ]


@pytest.mark.parametrize("spec", TASK_SPECS, ids=lambda s: s.name)
def test_other_tasks_cues_are_visible_distractors(probe_data, spec):
    _, train_y, train_cues, *_ = probe_data[spec.name]
    for cue, (classes, _) in CUES.items():
        if cue != spec.cue:
            # the distractor is drawn independently of this task's label ...
            table = np.zeros((classes, spec.num_classes))
            np.add.at(table, (train_cues[cue], train_y), 1)
            assert table.max(1).sum() / len(train_y) < 1 / spec.num_classes + 0.12, cue
    # ... yet it is there to see
    readable = _readable_cues(probe_data, spec)
    assert len(readable) >= 2, f"{spec.name}: only {readable} of the other cues are visible"


def test_distractors_cost_accuracy_and_can_be_switched_off(probe_data):
    clean = _probe_set(0.0)
    gains = []
    for spec in TASK_SPECS:
        assert _readable_cues(clean, spec) == [], spec.name
        accuracy = [
            _probe_accuracy(d[0], d[1], d[3], d[4], spec.num_classes)
            for d in (probe_data[spec.name], clean[spec.name])
        ]
        gains.append(accuracy[1] - accuracy[0])
    assert np.mean(gains) > 0.03, f"removing the other tasks' cues should help: {gains}"
