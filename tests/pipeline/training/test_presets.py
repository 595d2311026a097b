"""--preset demo|official|paper: the values each resolves to, where a setting comes from when
several sources give it, and the refusals that leave the run folder as it was."""

from __future__ import annotations

import json

import pytest

from lorkd_kernels.pipeline.training import TrainConfig, parse_args, run_folder
from tests.pipeline.training.tiny import usage_error

# The paper's released code, as the project's issue lists it.
RELEASED_CODE = {
    "student_arch": "shufflenet_v2_x1_0",
    "experts_on": "dense",
    "rank": 4,
    "alpha": 16.0,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "lr_schedule": "cosine-epoch",
    "warmup_fraction": 0.0,
    "epochs": 100,
    "batch_size": 1024,
    "image_size": 224,
    "teacher_arch": "resnet50",
    "kd_on": "features",
    "temperature": 10.0,
    "beta": 0.0,
}


@pytest.fixture
def backbone(tmp_path):
    """Stands in for a pretrained checkpoint (the usage checks only need a file)."""
    path = tmp_path / "resnet50-notop.pth"
    path.write_bytes(b"weights")
    return str(path)


def test_official_is_the_released_codes_configuration(backbone, tmp_path):
    config = parse_args(
        ["--preset", "official", "--teacher-backbone", backbone, "--out", str(tmp_path / "run")]
    )
    for key, value in RELEASED_CODE.items():
        assert getattr(config, key) == value, key
    assert (config.preset, config.grad_accum, config.teacher_backbone) == ("official", 1, backbone)


def test_paper_is_official_with_the_transfer_loss_on(backbone, tmp_path):
    common = ["--teacher-backbone", backbone, "--out", str(tmp_path / "run")]
    official = parse_args(["--preset", "official", *common]).to_json()
    paper = parse_args(["--preset", "paper", *common]).to_json()
    assert {k for k in paper if paper[k] != official[k]} == {"preset", "beta"}
    assert (paper["beta"], paper["kd_on"]) == (1.0, "features")


def test_demo_is_todays_defaults():
    assert parse_args(["--preset", "demo"]) == parse_args([]) == TrainConfig()


def test_config_file_beats_the_preset_and_flags_beat_both(backbone, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"preset": "official", "teacher_backbone": backbone, "lr": 0.1, "epochs": 3})
    )
    config = parse_args(["--config", str(path), "--epochs", "2", "--beta", "1"])
    assert (config.preset, config.lr, config.epochs, config.beta) == ("official", 0.1, 2, 1.0)
    assert (config.batch_size, config.experts_on) == (1024, "dense")  # from the preset
    assert parse_args(["--config", str(path), "--preset", "demo"]).batch_size == 64


def test_resume_takes_the_saved_values_over_the_preset(backbone, tmp_path, capsys):
    saved = TrainConfig(
        out=str(tmp_path),
        **{**RELEASED_CODE, "preset": "official", "teacher_backbone": backbone, "lr": 0.07},
    )
    run_folder.prepare(saved, "test")
    resumed = parse_args(["--out", str(tmp_path), "--resume"])
    assert (resumed.preset, resumed.lr, resumed.epochs) == ("official", 0.07, 100)
    err = usage_error(["--out", str(tmp_path), "--resume", "--preset", "paper"], capsys)
    assert "--preset 'paper' (the run has 'official')" in err


def test_a_config_json_from_before_presets_resumes_as_demo(tmp_path):
    old = TrainConfig(out=str(tmp_path), epochs=3).run_settings()
    for key in ("preset", "lr_schedule", "warmup_fraction", "micro_batch_size"):
        del old[key]
    (tmp_path / "config.json").write_text(
        json.dumps({**old, "written_by": "lorkd_kernels.train 0.1.0"})
    )
    resumed = parse_args(["--out", str(tmp_path), "--resume"])
    assert (resumed.preset, resumed.epochs, resumed.lr_schedule, resumed.warmup_fraction) == (
        "demo",
        3,
        "cosine-step",
        0.1,
    )


@pytest.mark.parametrize("preset", ["official", "paper"])
@pytest.mark.parametrize("extra", [[], ["--teacher-epochs", "0"], ["--beta", "1"]])
def test_official_and_paper_need_a_teacher_checkpoint(preset, extra, tmp_path, capsys):
    run_folder.prepare(TrainConfig(out=str(tmp_path)), "test")  # an earlier run
    (tmp_path / "metrics.json").write_text("{}")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    err = usage_error(["--preset", preset, "--out", str(tmp_path), "--overwrite", *extra], capsys)
    assert f"--preset {preset} needs a pretrained teacher" in err
    assert "--teacher-ckpt" in err and "--teacher-backbone" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_flags_that_change_a_preset_value_win(backbone, tmp_path):
    config = parse_args(
        [
            "--preset",
            "official",
            "--teacher-backbone",
            backbone,
            "--beta",
            "1",
            "--lr-schedule",
            "cosine-step",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert (config.beta, config.lr_schedule, config.preset) == (1.0, "cosine-step", "official")


def test_micro_batch_size_derives_the_accumulation(monkeypatch, capsys):
    assert parse_args(["--batch-size", "1024", "--micro-batch-size", "200"]).grad_accum == 8
    assert parse_args(["--batch-size", "64", "--micro-batch-size", "64"]).grad_accum == 1
    assert (
        parse_args(
            ["--batch-size", "1024", "--micro-batch-size", "200", "--grad-accum", "16"]
        ).grad_accum
        == 16
    )  # within: kept
    err = usage_error(
        ["--batch-size", "1024", "--micro-batch-size", "200", "--grad-accum", "2"], capsys
    )
    assert (
        "--grad-accum 2 gives micro-batches of 512 samples per process, more than "
        "--micro-batch-size 200" in err
    )
    assert "--micro-batch-size must be positive" in usage_error(["--micro-batch-size", "0"], capsys)
    monkeypatch.setenv("WORLD_SIZE", "2")  # each process holds half the batch
    assert parse_args(["--batch-size", "1024", "--micro-batch-size", "200"]).grad_accum == 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--warmup-fraction", "1"], "--warmup-fraction must be in [0, 1)"),
        (["--lr-schedule", "linear"], "invalid choice"),
        (["--preset", "released"], "invalid choice"),
    ],
)
def test_bad_schedule_and_preset_flags_are_named(argv, message, capsys):
    assert message in usage_error(argv, capsys)


def test_an_unknown_preset_in_a_config_file_is_named(tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text('{"preset": "released"}')
    assert "--preset 'released': choose from demo, official, paper" in usage_error(
        ["--config", str(path)], capsys
    )
