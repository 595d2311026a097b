"""Each preset end to end, shrunk by flags (one student epoch, the teacher kept as initialised,
16-pixel images, a small batch), with a
generated backbone checkpoint standing in for the pretrained teacher official and paper need."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from lorkd_kernels import train
from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.pipeline.training import TrainConfig, run_folder
from tests.pipeline.training.tiny import TASKS

SHRUNK = [
    "--tasks",
    *TASKS,
    "--synthetic-samples",
    "48",
    "--image-size",
    "16",
    "--epochs",
    "1",
    "--teacher-epochs",
    "0",
    "--batch-size",
    "24",
    "--teacher-arch",
    "resnet18",
    "--eval-batch-size",
    "64",
]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """A ResNet-18 checkpoint in torchvision's layout (1000-class head, skipped on loading)."""
    path = tmp_path_factory.mktemp("pretrained") / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(build_model("resnet18", 1000).state_dict(), path)
    return path


# demo runs in the default tier; official and paper (the paper-size student at 16 px, feature
# distillation, micro-batches) in the slow one (CI step 'slow').
@pytest.mark.parametrize(
    "preset, checkpoint, expected",
    [
        (
            "demo",
            False,
            {
                "experts_on": "all",
                "kd_on": "logits",
                "beta": 1.0,
                "lr_schedule": "cosine-step",
                "warmup_fraction": 0.1,
                "lr": 0.01,
            },
        ),
        pytest.param(
            "official",
            True,
            {
                "experts_on": "dense",
                "kd_on": "features",
                "beta": 0.0,
                "lr_schedule": "cosine-epoch",
                "warmup_fraction": 0.0,
                "lr": 0.05,
            },
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "paper",
            True,
            {
                "experts_on": "dense",
                "kd_on": "features",
                "beta": 1.0,
                "lr_schedule": "cosine-epoch",
                "warmup_fraction": 0.0,
                "lr": 0.05,
            },
            marks=pytest.mark.slow,
        ),
    ],
)
def test_each_preset_runs_end_to_end(preset, checkpoint, expected, backbone, data_root, tmp_path):
    out = tmp_path / preset
    extra = ["--teacher-backbone", str(backbone)] if checkpoint else []
    # paper also splits its batch: at most 12 samples at once, so 2 micro-batches per step
    extra += ["--micro-batch-size", "12"] if preset == "paper" else []
    assert (
        train.main(
            ["--preset", preset, "--out", str(out), "--root", str(data_root), *SHRUNK, *extra]
        )
        == 0
    )
    saved = json.loads((out / "config.json").read_text())
    assert saved["preset"] == preset
    assert {k: saved[k] for k in expected} == expected
    assert (saved["epochs"], saved["image_size"], saved["batch_size"]) == (1, 16, 24)
    assert saved["grad_accum"] == (2 if preset == "paper" else 1)
    assert saved["teacher_backbone"] == (str(backbone) if checkpoint else None)
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["tasks"]) == sorted(TASKS)
    rows = list(csv.DictReader((out / "epochs.csv").open()))
    assert [(r["stage"], r["epoch"]) for r in rows] == [("student", "1")]
    for name in TASKS:
        assert (out / "experts" / f"{name}.safetensors").is_file()


def test_a_teacher_checkpoint_that_does_not_fit_leaves_the_run_folder_as_it_was(
    backbone, data_root, tmp_path, capsys
):
    out = tmp_path / "run"
    run_folder.prepare(TrainConfig(out=str(out)), "test")  # an earlier run's outputs
    for name in ("teacher.pt", "student.pt", "metrics.json"):
        (out / name).write_text(name)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # official's teacher is a ResNet-50; the checkpoint holds a ResNet-18
    args = [a for a in SHRUNK if a not in ("--teacher-arch", "resnet18")]
    assert (
        train.main(
            [
                "--preset",
                "official",
                "--out",
                str(out),
                "--root",
                str(data_root),
                "--overwrite",
                *args,
                "--teacher-backbone",
                str(backbone),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "resnet18.pth" in err and "does not fit the backbone" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
