import json
import os
import subprocess
import sys

import pytest

from lorkd_kernels.pipeline.comparison import report, stats
from ...pipeline.training.tiny import REPO
from .records import random_record


def test_every_number_in_the_report_comes_from_the_record():
    record = random_record(3)
    text = report.markdown(record)
    analysis = stats.analyse(record)
    lorkd = analysis["rows"]["lorkd"]["mean"]["accuracy"]
    assert "| lorkd | " in text and f"{lorkd['mean']:.3f} ± {lorkd['std']:.3f}" in text
    diff = analysis["lorkd_vs_baselines"]["stl"]
    assert f"| stl | {diff['mean']:+.3f} | [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}]" in text
    assert "on 2 CPUs (x86_64, torch 2.13.0, 2 threads)" in text
    for name, lr in record["selection"]["chosen"].items():
        assert f"| {name} |" in text and f"| {lr:g} |" in text
    # a changed number in the record changes the report
    key = record["final"][0]
    record["runs"][key]["test"]["tissue"]["accuracy"] += 0.3
    assert report.markdown(record) != text


# a subprocess rebuilding the report and its plot (about 10 s): the slow tier
@pytest.mark.slow
def test_report_only_rebuilds_the_files_from_the_json(tmp_path):
    record = random_record(4)
    (tmp_path / "comparison.json").write_text(json.dumps(record))
    done = subprocess.run(
        [sys.executable, "-m", "lorkd_kernels.compare", "--report-only", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "comparison.md").read_text() == report.markdown(record)
    assert (tmp_path / "comparison.png").stat().st_size > 0


def test_report_only_without_a_record_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lorkd_kernels.compare", "--report-only", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "comparison.json" in done.stderr


@pytest.mark.slow
def test_quick_grid_end_to_end(tmp_path):
    """The whole grid at toy size: every row and seed recorded, the learning rate chosen by
    validation accuracy, and the report built from the JSON alone; a rerun reuses every run."""
    command = [sys.executable, "-m", "lorkd_kernels.compare", "--quick", "--out", str(tmp_path)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "comparison.json").read_text())
    names = {row["name"] for row in record["rows"]}
    for name in names:
        assert len(stats.final_entries(record, name)) == 3
    for name, by_lr in record["selection"]["scores"].items():
        assert by_lr[f"{record['selection']['chosen'][name]:g}"] == max(by_lr.values())
    assert (tmp_path / "comparison.md").read_text() == report.markdown(record)
    assert sorted(p.name for p in (tmp_path / "teachers").iterdir()) == [
        "seed0.pt",
        "seed1.pt",
        "seed2.pt",
    ]
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "== " not in again.stdout
    assert json.loads((tmp_path / "comparison.json").read_text())["runs"] == record["runs"]
    # a recorded run trained again, its seed's teacher trained again too (not copied), gives
    # every test number of the record through the evaluate command
    (tmp_path / "teachers" / "seed1.pt").unlink()
    key = next(k for k in record["final"] if k.startswith("lorkd|seed=1"))
    reproduced = subprocess.run(
        command + ["--reproduce", key],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert reproduced.returncode == 0, reproduced.stderr[-2000:]
    assert "every test number reproduced" in reproduced.stdout
