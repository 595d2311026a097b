"""The benchmark options (``--bench-scope``, ``--bench-device``, ``--bench-providers``,
``--bench-tiny``): parsed into benchmarks.common.SETTINGS, read by the suites when they are
collected, and a bad value stops pytest with a usage error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from benchmarks import model_bench
from benchmarks.common import SETTINGS, BenchSettings
from benchmarks.scopes import TINY_IMAGE_SIZE, layer_cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_configure_parses_every_option():
    settings = BenchSettings()
    settings.configure(" Quick", "cpu", "plain, cpu,,paper,cpu_measured,triton_measured", True)
    assert settings.scope == "quick" and settings.device == torch.device("cpu")
    assert settings.providers == frozenset(
        {"plain", "cpu", "paper", "cpu_measured", "triton_measured"}
    )
    assert settings.tiny and settings.scope_label == "tiny"


def test_every_provider_a_suite_runs_can_be_selected():
    # each name the layer suites time (plus the measured cpu form) is one --bench-providers takes
    from benchmarks.names import MEASURED

    settings = BenchSettings()
    settings.configure("quick", "cpu", f"plain,cpu,{MEASURED},paper,per_task_loop", True)
    assert MEASURED in settings.providers


@pytest.mark.parametrize(
    "args,message",
    [
        (("bogus", "cpu", None), "--bench-scope 'bogus': expected one of quick, standard, full"),
        (("quick", "nodevice", None), "--bench-device 'nodevice' is not a torch device"),
        (("quick", "cpu", "plain,cpu2"), "--bench-providers 'plain,cpu2': unknown cpu2"),
        (
            ("quick", "cpu", ","),
            "--bench-providers ',': no name; expected names from cpu, cpu_measured, cuda",
        ),
    ],
)
def test_a_bad_value_names_its_option_and_changes_nothing(args, message):
    settings = BenchSettings()
    with pytest.raises(ValueError) as err:
        settings.configure(*args, tiny=True)
    assert str(err.value).startswith(message)
    assert settings == BenchSettings()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="torch.cuda.is_available"):
        BenchSettings().configure("standard", "cuda", None, False)


def test_readers_look_settings_up_when_called(monkeypatch):
    monkeypatch.setattr(SETTINGS, "tiny", True)
    monkeypatch.setattr(SETTINGS, "scope", "quick")
    monkeypatch.setattr(SETTINGS, "providers", frozenset({"plain"}))
    cases = layer_cases("linear")
    assert {case.image_size for case in cases} == {TINY_IMAGE_SIZE}
    assert {case.setting for case in cases} == {"main"}
    assert model_bench.problem_size() == model_bench.TINY_SIZE
    monkeypatch.setattr(SETTINGS, "tiny", False)
    assert model_bench.problem_size() == model_bench.SIZE


def _collect(*options):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bad_option_is_a_pytest_usage_error():
    result = _collect("benchmarks", "--bench-scope", "bogus")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "ERROR: --bench-scope 'bogus': expected one of quick, standard, full" in result.stderr


# collects the benchmark suites in a subprocess (about 10 s): the slow tier
@pytest.mark.slow
def test_options_reach_the_collected_suites():
    result = _collect(
        os.path.join("benchmarks", "test_bench_linear_layer.py"),
        "--bench-tiny",
        "--bench-scope",
        "quick",
        "--bench-providers",
        "paper,plain",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    ids = [line for line in result.stdout.splitlines() if "::test_linear_layer[" in line]
    # quick: the two classifiers at the main setting; tiny: batch 64 -> 2
    assert len(ids) == 4 and all("-r4-b2-" in test_id for test_id in ids)
    assert {test_id.rsplit("-", 1)[1] for test_id in ids} == {"plain]", "paper]"}
