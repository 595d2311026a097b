"""The pipeline on MedMNIST files, image folders and RadImageNet given by --root, and with bf16
autocast."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lorkd_kernels import train
from lorkd_kernels.pipeline.training import TrainConfig, run_folder
from tests.pipeline.data.layouts import (
    image_folder,
    medmnist_arrays,
    radimagenet_images,
    write_list_file,
    write_npz,
)

SMALL = [
    "--teacher-arch",
    "resnet18",
    "--student-arch",
    "shufflenet_v2_x0_5",
    "--teacher-epochs",
    "1",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--progress",
    "off",
]


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())["tasks"]


def test_medmnist_files_with_and_without_size_suffix(tmp_path):
    root = tmp_path / "medmnist"
    root.mkdir()
    sizes = {"train": 32, "val": 8, "test": 12}
    write_npz(root / "breastmnist.npz", medmnist_arrays(2, sizes=sizes))
    write_npz(root / "bloodmnist.npz", medmnist_arrays(8, rgb=True, seed=1, sizes=sizes))
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--data",
                "medmnist",
                "--root",
                str(root),
                "--tasks",
                "breastmnist",
                "bloodmnist",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 0
    )
    tasks = _metrics(out)
    assert tasks["breastmnist"]["expert"]["samples"] == 12
    assert tasks["bloodmnist"]["teacher"]["samples"] == 12


def test_chestmnist_trains_as_a_multi_label_task_next_to_a_single_label_one(tmp_path):
    root = tmp_path / "medmnist"
    root.mkdir()
    sizes = {"train": 32, "val": 8, "test": 12}
    write_npz(root / "chestmnist.npz", medmnist_arrays(14, sizes=sizes, multilabel=True))
    write_npz(root / "retinamnist.npz", medmnist_arrays(5, rgb=True, seed=1, sizes=sizes))
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--data",
                "medmnist",
                "--root",
                str(root),
                "--tasks",
                "chestmnist",
                "retinamnist",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 0
    )
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["multilabel_tasks"] == ["chestmnist"]
    for role in ("expert", "teacher"):
        for task in ("chestmnist", "retinamnist"):
            metrics = summary["tasks"][task][role]
            assert metrics["samples"] == 12 and 0 <= metrics["accuracy"] <= 1
            assert np.isfinite(metrics["auc"])


def test_a_label_out_of_range_names_the_file_and_key(tmp_path, capsys):
    root = tmp_path / "medmnist"
    root.mkdir()
    arrays = medmnist_arrays(2, sizes={"train": 8, "val": 4, "test": 4})
    arrays["train_labels"][3] = 5
    write_npz(root / "pneumoniamnist.npz", arrays)
    code = train.main(
        [
            "--data",
            "medmnist",
            "--root",
            str(root),
            "--tasks",
            "pneumoniamnist",
            "--out",
            str(tmp_path / "run"),
            *SMALL,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "pneumoniamnist.npz" in err and "train_labels" in err and "Traceback" not in err


def test_image_folders(tmp_path):
    rng = np.random.default_rng(0)

    def images(n):
        return [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(n)]

    root = tmp_path / "folders"
    for task in ("ct", "xray"):
        image_folder(
            root,
            task,
            {
                split: {"benign": images(n), "malignant": images(n)}
                for split, n in (("train", 16), ("val", 2), ("test", 5))
            },
        )
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--data",
                "folder",
                "--root",
                str(root),
                "--image-size",
                "16",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 0
    )
    assert sorted(_metrics(out)) == ["ct", "xray"]
    assert _metrics(out)["ct"]["expert"]["samples"] == 10


def test_bf16_autocast_run(tmp_path):
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--out",
                str(out),
                "--root",
                str(tmp_path / "data"),
                "--tasks",
                "chest",
                "retina",
                "--synthetic-samples",
                "32",
                "--image-size",
                "16",
                "--amp",
                "bf16",
                *SMALL,
            ]
        )
        == 0
    )
    for roles in _metrics(out).values():
        assert 0.0 <= roles["expert"]["accuracy"] <= 1.0


@pytest.fixture(scope="module")
def radimagenet_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("radimagenet")
    entries = radimagenet_images(root, {"train": 2, "test": 1})
    write_list_file(root / "label" / "rad_train_shuffled.txt", entries["train"])
    write_list_file(root / "label" / "rad_test.txt", entries["test"])
    return root


def test_radimagenet_list_files(radimagenet_root, tmp_path):
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--data",
                "radimagenet",
                "--root",
                str(radimagenet_root),
                "--tasks",
                "rad_task03",
                "rad_task07",
                "--image-size",
                "16",
                "--out",
                str(out),
                *SMALL,
            ]
        )
        == 0
    )
    tasks = _metrics(out)
    assert sorted(tasks) == ["rad_task03", "rad_task07"]
    assert tasks["rad_task07"]["expert"]["samples"] == 9  # one test image per class


def test_a_bad_radimagenet_list_line_keeps_the_earlier_run(radimagenet_root, tmp_path, capsys):
    lists = tmp_path / "lists"
    lines = (radimagenet_root / "label" / "rad_train_shuffled.txt").read_text().splitlines()
    bad_train = write_list_file(lists / "train.txt", [])
    bad_train.write_text("\n".join(lines[:4] + [lines[4].rsplit(" ", 1)[0] + " 170"]) + "\n")
    out = tmp_path / "run"
    run_folder.prepare(TrainConfig(out=str(out)), "test")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = train.main(
        [
            "--data",
            "radimagenet",
            "--root",
            str(radimagenet_root),
            "--train-list",
            str(bad_train),
            "--image-size",
            "16",
            "--out",
            str(out),
            "--overwrite",
            *SMALL,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{bad_train} line 5: label 170 is outside 0-164" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
