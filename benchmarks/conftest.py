"""Records what a benchmark JSON needs to be read later: torch build, device, scope."""

from __future__ import annotations

import platform

import torch

import lorkd_kernels
from benchmarks.common import DEVICE, SCOPE, TINY, device_name, requires_device


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_configure(config):
    requires_device()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update({
        "cpu_model": _cpu_model(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "lorkd_version": lorkd_kernels.__version__,
        "lorkd_backend": lorkd_kernels.active_backend(DEVICE.type),
        "bench_device": str(DEVICE),
        "bench_device_name": device_name(DEVICE),
        "bench_scope": "tiny" if TINY else SCOPE,
    })
