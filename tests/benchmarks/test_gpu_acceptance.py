"""``python -m benchmarks.gpu_acceptance`` on a machine without a GPU: the plan, the stop with
exit status 2 and one line, summary.json, the out folder's protection. No build runs: the GPU
check and the build command are replaced where a test needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import gpu_acceptance as acceptance
from benchmarks import gpu_estimate

STOP_LINE = "no CUDA GPU is visible: stopped before kernels; run this on a machine with a CUDA GPU"
STEP_NAMES = [
    "environment",
    "dependencies",
    "build",
    "kernels",
    "warm-up",
    "benchmarks",
    "report",
    "triton-tests",
    "gpu-tests",
]


@pytest.fixture(autouse=True)
def dependencies_found(monkeypatch):
    """The dependency check sees everything installed (its own tests below say otherwise)."""
    monkeypatch.setattr(acceptance, "missing_dependencies", lambda building: [])


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(acceptance, "gpu_visible", lambda: False)


@pytest.fixture
def commands(monkeypatch):
    """Step commands recorded instead of run; each returns the code given for its step."""
    ran, codes = [], {}

    def fake(step, log):
        ran.append(step)
        return codes.get(step.name, 0)

    monkeypatch.setattr(acceptance, "run_command", fake)
    return ran, codes


def _summary(out) -> dict:
    with open(os.path.join(out, "summary.json")) as handle:
        return json.load(handle)


@pytest.fixture
def counted(monkeypatch):
    """Fixed counts instead of collecting (``count`` is tested in test_gpu_estimate.py)."""
    counts = gpu_estimate.Counts(1, 10, 100, 100, 50, 10, 2, 1, 30, 6, 2, 20, 5)
    monkeypatch.setattr(gpu_estimate, "count", lambda root, providers: counts)
    return counts


def test_plan_lists_every_step_with_command_and_estimate(counted, capsys):
    assert acceptance.main(["--plan", "--jobs", "16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for i, name in enumerate(STEP_NAMES, 1):
        assert lines[i - 1].startswith(f"{i}. {name} (~"), lines[i - 1]
    assert "MAX_JOBS=16 python setup.py -q build_ext --inplace" in lines[2]
    for step in (4, 5):  # the warm-up, then the timed run, of the same cases
        assert "--bench-device cuda --bench-scope paper" in lines[step]
        assert "--bench-providers plain,triton,triton_split,cuda,paper" in lines[step]
    assert "-n 8 --benchmark-disable -k 'not paper and not graph'" in lines[4]
    assert "--benchmark-json=" in lines[5] and "--benchmark-disable" not in lines[5]
    total = sum(
        gpu_estimate.estimate(
            counted, gpu_estimate.Costs(jobs=16, workers=acceptance.workers(16))
        ).values()
    )
    assert lines[-1].startswith(f"estimated total: {total:.0f} s")


def test_plan_runs_nothing(tmp_path, commands, counted, capsys):
    out = tmp_path / "acceptance"
    assert acceptance.main(["--plan", "--out", str(out)]) == 0
    assert commands[0] == [] and not out.exists()


def test_without_a_gpu_it_stops_with_one_line_and_exit_status_2(tmp_path, no_gpu, capsys):
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out), "--skip-build"]) == 2
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == STOP_LINE
    assert printed[0].startswith("environment: passed (") and "torch " in printed[0]
    summary = _summary(out)
    assert [s["name"] for s in summary["steps"]] == STEP_NAMES
    status = {s["name"]: s["status"] for s in summary["steps"]}
    assert status == {
        "environment": "passed",
        "dependencies": "passed",
        "build": "skipped",
        **{name: "not run" for name in STEP_NAMES[3:]},
    }
    assert summary["status"] == "stopped: no CUDA GPU is visible, before kernels"
    assert all("command" in s for s in summary["steps"])
    assert not (out / "summary.json.tmp").exists()


def test_with_a_toolkit_the_build_runs_before_the_stop(
    tmp_path, no_gpu, commands, monkeypatch, capsys
):
    monkeypatch.setattr(acceptance, "cannot_build", lambda: None)
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out), "--jobs", "3"]) == 2
    [build] = commands[0]
    assert build.name == "build" and build.env == {"LORKD_BUILD": "cuda", "MAX_JOBS": "3"}
    assert build.command[1:] == ["setup.py", "-q", "build_ext", "--inplace"]
    assert _summary(out)["steps"][2]["status"] == "passed"
    assert capsys.readouterr().out.splitlines()[-1] == STOP_LINE


def test_a_failed_step_names_itself_and_the_run_goes_on(tmp_path, commands, monkeypatch, capsys):
    """A failure (here the kernels and the triton tests) costs no later step's numbers."""
    monkeypatch.setattr(acceptance, "gpu_visible", lambda: True)
    ran, codes = commands
    codes["kernels"], codes["triton-tests"] = 1, 3
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out), "--skip-build"]) == 1
    logs = [os.path.join(str(out), "logs", f"{name}.log") for name in ("kernels", "triton-tests")]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"GPU acceptance failed: kernels exited with code 1 (log: {logs[0]}); triton-tests "
        f"exited with code 3 (log: {logs[1]})"
    )
    assert [s.name for s in ran] == STEP_NAMES[3:]
    summary = _summary(out)
    assert summary["status"] == "failed at kernels, triton-tests"
    assert [s["status"] for s in summary["steps"]] == [
        "passed",
        "passed",
        "skipped",
        "failed",
        "passed",
        "passed",
        "passed",
        "failed",
        "passed",
    ]


def test_a_missing_dependency_stops_the_run_before_the_build(
    tmp_path, commands, monkeypatch, capsys
):
    monkeypatch.setattr(acceptance, "gpu_visible", lambda: True)
    monkeypatch.setattr(
        acceptance, "missing_dependencies", lambda building: ["ninja (pip install ninja)"]
    )
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "GPU acceptance stopped before building: missing ninja (pip install ninja)"
    )
    assert commands[0] == []
    assert _summary(out)["status"] == "failed at dependencies"


def test_the_dependency_check_names_what_is_missing(monkeypatch):
    import importlib.util as util

    monkeypatch.undo()  # the real check
    real_find_spec = util.find_spec
    monkeypatch.setattr(
        util, "find_spec", lambda name: None if name == "xdist" else real_find_spec(name)
    )
    monkeypatch.setattr(acceptance, "nvcc_release", lambda: "12.4")
    monkeypatch.setattr(acceptance.shutil, "which", lambda name: "/bin/" + name)
    import torch

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    missing = acceptance.missing_dependencies(building=True)
    assert missing == [
        "xdist (pip install pytest-xdist)",
        "an nvcc of CUDA 13.0 (torch's; found 12.4)",
    ]
    assert acceptance.missing_dependencies(building=False) == ["xdist (pip install pytest-xdist)"]


def test_every_step_passing_exits_0(tmp_path, commands, monkeypatch, capsys):
    monkeypatch.setattr(acceptance, "gpu_visible", lambda: True)
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out), "--skip-build"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith(f"GPU acceptance passed: {len(STEP_NAMES)} steps")
    )
    assert _summary(out)["status"] == "passed"


def test_an_out_folder_with_results_is_kept_without_overwrite(tmp_path, no_gpu, capsys):
    out = tmp_path / "acceptance"
    out.mkdir()
    (out / "summary.json").write_text('{"earlier": true}')
    (out / "notes.txt").write_text("mine")
    assert acceptance.main(["--out", str(out), "--skip-build"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"gpu_acceptance: --out {out} already holds results (summary.json); pass "
        "--overwrite to replace them or choose another --out"
    )
    assert json.loads((out / "summary.json").read_text()) == {"earlier": True}
    assert acceptance.main(["--out", str(out), "--skip-build", "--overwrite"]) == 2
    assert _summary(out)["steps"][0]["status"] == "passed"
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_an_interrupted_run_leaves_a_whole_summary(tmp_path, commands, monkeypatch, capsys):
    monkeypatch.setattr(acceptance, "gpu_visible", lambda: True)

    def interrupted(step, log):
        raise KeyboardInterrupt

    monkeypatch.setattr(acceptance, "run_command", interrupted)
    out = tmp_path / "acceptance"
    assert acceptance.main(["--out", str(out), "--skip-build"]) == 130
    assert capsys.readouterr().err.strip() == (
        "gpu_acceptance: interrupted; summary.json in --out holds the steps done"
    )
    summary = _summary(out)
    assert summary["status"] == "interrupted in kernels"
    assert [s["status"] for s in summary["steps"][:4]] == ["passed", "passed", "skipped", "not run"]


def test_bad_arguments_are_one_line_and_exit_status_1(capsys):
    assert acceptance.main(["--jobs", "0"]) == 1
    assert capsys.readouterr().err.strip() == "gpu_acceptance: --jobs 0: expected a positive count"
    assert acceptance.main(["--no-such-flag"]) == 1
    assert capsys.readouterr().err.strip().startswith("gpu_acceptance: unrecognized arguments")


def test_the_command_without_a_gpu(tmp_path):
    """The real command in a process of its own with no GPU visible: the one line, no
    traceback, exit status 2."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.gpu_acceptance",
            "--skip-build",
            "--out",
            str(tmp_path / "acceptance"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == STOP_LINE
    assert "Traceback" not in result.stdout + result.stderr
