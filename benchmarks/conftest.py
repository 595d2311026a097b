"""The benchmark options, and what a benchmark JSON needs to be read later: torch build,
device, scope.

pytest loads this file only when it is given the ``benchmarks`` folder (or a file in it), which
is how the suites run: ``python -m pytest benchmarks --bench-scope quick ...``.
"""

from __future__ import annotations

import platform

import pytest
import torch

import lorkd_kernels
from benchmarks.common import SCOPES, SETTINGS, device_name


def pytest_addoption(parser):
    group = parser.getgroup("lorkd benchmarks")
    group.addoption(
        "--bench-scope",
        default="standard",
        metavar="{" + ",".join(SCOPES) + "}",
        help="how much of the layer problem matrix runs (default: standard)",
    )
    group.addoption(
        "--bench-device",
        default="cpu",
        metavar="DEVICE",
        help="torch device the problems run on, e.g. cuda (default: cpu)",
    )
    group.addoption(
        "--bench-providers",
        default=None,
        metavar="NAME,NAME",
        help="run only these layer providers (default: every one available)",
    )
    group.addoption(
        "--bench-tiny",
        action="store_true",
        help="shrink every problem to seconds: a smoke run, not a measurement",
    )


def pytest_configure(config):
    # before collection: the suites parametrize over the settings while they are collected
    try:
        SETTINGS.configure(
            config.getoption("bench_scope"),
            config.getoption("bench_device"),
            config.getoption("bench_providers"),
            config.getoption("bench_tiny"),
        )
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(
        {
            "cpu_model": _cpu_model(),
            "torch_version": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "lorkd_version": lorkd_kernels.__version__,
            "lorkd_backend": lorkd_kernels.active_backend(SETTINGS.device.type),
            "bench_device": str(SETTINGS.device),
            "bench_device_name": device_name(SETTINGS.device),
            "bench_scope": SETTINGS.scope_label,
        }
    )
