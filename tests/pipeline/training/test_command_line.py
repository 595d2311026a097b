"""Where settings come from (--config files, a resumed run's config.json, flags) and what a new
run may find in --out: refused without touching anything."""

from __future__ import annotations

import json
import sys

import pytest

from lorkd_kernels.pipeline.training import TrainConfig, parse_args, run_folder
from lorkd_kernels.pipeline.training.settings_file import WRITTEN_BY
from tests.pipeline.training.tiny import usage_error


def _earlier_run(out, **settings) -> TrainConfig:
    config = TrainConfig(out=str(out), **settings)
    run_folder.prepare(config, "test")
    return config


def test_a_saved_config_json_reruns_as_is(tmp_path):
    saved = _earlier_run(tmp_path / "a", epochs=3, rank=2, tasks=["tissue", "chest"])
    assert WRITTEN_BY in json.loads((tmp_path / "a" / "config.json").read_text())
    again = parse_args(
        ["--config", str(tmp_path / "a" / "config.json"), "--out", str(tmp_path / "b")]
    )
    assert again.run_settings() == {**saved.run_settings(), "out": str(tmp_path / "b")}


def test_flags_override_the_config_file(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"epochs": 3, "lr": 0.5, "tasks": ["tissue"]}))
    config = parse_args(["--config", str(path), "--lr", "0.1"])
    assert (config.epochs, config.lr, config.tasks) == (3, 0.1, ["tissue"])


def test_yaml_config_files(tmp_path, monkeypatch, capsys):
    path = tmp_path / "settings.yaml"
    path.write_text("epochs: 3\ntasks: [tissue, blood]\n")
    with monkeypatch.context() as patch:  # (undo() would also undo the chdir)
        patch.setitem(sys.modules, "yaml", None)  # PyYAML not installed
        assert "PyYAML is not installed" in usage_error(["--config", str(path)], capsys)
    pytest.importorskip("yaml")
    config = parse_args(["--config", str(path)])
    assert (config.epochs, config.tasks) == (3, ["tissue", "blood"])


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"epochs": 3, "epoch": 4}', "unknown setting(s) ['epoch']"),
        ('{"epochs": 3', "is not valid JSON"),
        ("[1, 2]", "must hold a mapping"),
        ('{"epochs": 0}', "--epochs must be positive"),
        ('{"lr": "0.01"}', "--lr must be a finite number, got '0.01'"),
        ('{"rank": true}', "--rank must be a whole number, got True"),
        ('{"epochs": 1.5}', "--epochs must be a whole number, got 1.5"),
        ('{"alpha": 1e400}', "--alpha must be a finite number, got inf"),
        ('{"seed": 99999999999999999999}', "--seed must be in [0, 4294967295]"),
    ],
)
def test_bad_config_files_are_named(content, message, tmp_path, capsys):
    path = tmp_path / "settings.json"
    path.write_text(content)
    assert message in usage_error(["--config", str(path)], capsys)
    assert "no/such.json" in usage_error(["--config", "no/such.json"], capsys)


def test_resume_takes_the_runs_settings(tmp_path):
    saved = _earlier_run(tmp_path, epochs=3, rank=2, tasks=["tissue", "chest"])
    resumed = parse_args(["--out", str(tmp_path), "--resume", "--progress", "off"])
    assert resumed.resume and resumed.progress == "off"
    assert {k: v for k, v in resumed.run_settings().items() if k != "progress"} == {
        k: v for k, v in saved.run_settings().items() if k != "progress"
    }


def test_resume_of_a_moved_run_folder_keeps_its_new_place(tmp_path, monkeypatch):
    _earlier_run(tmp_path / "old" / "runs" / "lorkd")
    (tmp_path / "old" / "runs").rename(tmp_path / "runs")
    assert parse_args(["--resume"]).out == "runs/lorkd"  # the default --out, relative
    assert parse_args(["--resume", "--out", str(tmp_path / "runs" / "lorkd")]).out == str(
        tmp_path / "runs" / "lorkd"
    )


def test_resume_with_other_settings_is_refused_and_touches_nothing(tmp_path, capsys):
    _earlier_run(tmp_path, student_arch="shufflenet_v2_x0_5", rank=2)
    before = (tmp_path / "config.json").read_bytes()
    err = usage_error(
        ["--out", str(tmp_path), "--resume", "--student-arch", "shufflenet_v2_x1_0", "--rank", "2"],
        capsys,
    )
    assert "--student-arch 'shufflenet_v2_x1_0' (the run has 'shufflenet_v2_x0_5')" in err
    assert "--rank" not in err  # the same value is no mismatch
    assert (tmp_path / "config.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_resume_needs_a_run(tmp_path, capsys):
    assert "holds no run to resume" in usage_error(["--out", str(tmp_path), "--resume"], capsys)
    (tmp_path / "config.json").write_text('{"epochs": 3}')
    assert "was not written by lorkd_kernels.train" in usage_error(
        ["--out", str(tmp_path), "--resume"], capsys
    )


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_files_the_tool_did_not_write_are_never_replaced(overwrite, tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"mine": true}\n')
    (tmp_path / "notes.txt").write_text("mine")
    err = usage_error(["--out", str(tmp_path), *overwrite], capsys)
    assert "did not write (config.json, notes.txt)" in err
    assert (tmp_path / "config.json").read_text() == '{"mine": true}\n'


def test_overwrite_keeps_the_generated_data(tmp_path):
    _earlier_run(tmp_path)
    (tmp_path / "synthetic").mkdir()
    (tmp_path / "synthetic" / "tissue.npz").write_bytes(b"data")
    (tmp_path / "metrics.json").write_text("{}")
    config = parse_args(["--out", str(tmp_path), "--overwrite", "--epochs", "2"])
    run_folder.prepare(config, "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "synthetic"]
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 2


def test_overwrite_removes_every_result_about_the_earlier_run_and_keeps_its_data(tmp_path):
    """costs, evaluation and transfer results describe the earlier run's models: stale once it
    is trained afresh. The generated data and files the tools did not write stay (the latter
    are refused before, test_files_the_tool_did_not_write_are_never_replaced)."""
    _earlier_run(tmp_path)
    (tmp_path / "synthetic").mkdir()
    for name in (
        "costs.json",
        "costs.md",
        "transfer-derm.json",
        "evaluation-test.json",
        "evaluation-val.md",
        ".metrics.json.tmp",
    ):
        (tmp_path / name).write_text("{}")
    config = parse_args(["--out", str(tmp_path), "--overwrite"])
    run_folder.prepare(config, "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "synthetic"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--alpha", "inf"], "--alpha must be a finite number, got inf"),
        (["--lr", "nan"], "--lr must be a finite number, got nan"),
        (["--temperature=-inf"], "--temperature must be a finite number"),
        (["--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
        (["--seed", "99999999999999999999"], "--seed must be in [0, 4294967295]"),
    ],
)
def test_numbers_out_of_kind_or_range_are_usage_errors_before_any_write(
    flags, message, tmp_path, capsys
):
    assert message in usage_error(["--out", str(tmp_path / "run"), *flags], capsys)
    assert not (tmp_path / "run").exists()


def test_settings_files_that_are_not_text_too_big_or_alias_bombs_are_refused(tmp_path, capsys):
    binary = tmp_path / "settings.json"
    binary.write_bytes(b'{"epochs": 3, "\xff\xfe": 1}')
    assert "is not UTF-8 text (byte 15)" in usage_error(["--config", str(binary)], capsys)
    big = tmp_path / "big.json"
    big.write_text('{"epochs": 3}' + " " * (1 << 20))
    assert "is larger than 1048576 bytes" in usage_error(["--config", str(big)], capsys)
    pytest.importorskip("yaml")
    bomb = tmp_path / "bomb.yaml"
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
        f"*a{i - 1}, *a{i - 1}, *a{i - 1}]"
        for i in range(1, 13)
    ]
    bomb.write_text("\n".join(levels) + "\n")
    assert "repeats YAML aliases more than 100 times" in usage_error(
        ["--config", str(bomb)], capsys
    )
