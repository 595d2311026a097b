"""Hand-made pytest-benchmark JSON entries of the layer and model suites, for the report tests."""

from __future__ import annotations

import json

MACHINE = {
    "cpu_model": "Test CPU",
    "torch_version": "2.x",
    "lorkd_backend": "cpu",
    "bench_device_name": "cpu",
    "bench_scope": "quick",
    "cpu": {"count": 2},
}


def _entry(name: str, group: str, info: dict, median: float, peak=None) -> dict:
    info["metric"] = "time" if peak is None else "peak_bytes"
    if peak is not None:
        info["peak_bytes"] = peak
    return {
        "fullname": name,
        "name": name,
        "group": group,
        "extra_info": info,
        "stats": {"median": median},
    }


def layer(case, provider, median, setting="main", kind="conv", peak=None, dtype=None, device=None):
    """A layer-suite benchmark; ``peak`` makes it a peak-memory one; ``device``: its
    ``(device_seconds, forward_device_seconds)``, as a GPU run records them."""
    info = {
        "suite": "layer",
        "kind": kind,
        "case": case,
        "shape": case.split("-")[0],
        "layers": 2,
        "image_size": 64,
        "batch": 64,
        "rank": 4,
        "num_tasks": 10,
        "mix": "uniform",
        "pass": "fwd+bwd",
        "setting": setting,
        "provider": provider,
    }
    if dtype is not None:
        info["dtype"] = dtype
    if device is not None:
        info["device_seconds"], info["forward_device_seconds"] = device
    return _entry(f"{'mem' if peak else 'time'}[{case}-{provider}]", case, info, median, peak)


def model(what, provider, median, peak=None, arch="shufflenet_v2_x1_0", scale=None, dtype=None):
    """A model-suite benchmark of student ``arch``; ``peak`` makes it a peak-memory one;
    ``scale``/``dtype`` as a paper-scale run records them (older files have neither)."""
    info = {
        "suite": "model",
        "model": arch,
        "what": what,
        "provider": provider,
        "batch": 128,
        "image_size": 64,
        "num_tasks": 10,
        "rank": 4,
        "backend": "cpu",
    }
    if scale is not None:
        info["scale"], info["dtype"] = scale, dtype
    name = f"{what}{'-mem' if peak else ''}[{arch}-{dtype or 'float32'}-{provider}]"
    return _entry(name, f"{arch} {what}", info, median, peak)


def write(
    path, benchmarks, machine=MACHINE, datetime="2026-01-02T03:04:05", commit="abcdef1234567"
):
    """A pytest-benchmark JSON file of ``benchmarks`` at ``path``; returns ``path``."""
    path.write_text(
        json.dumps(
            {
                "machine_info": machine,
                "datetime": datetime,
                "commit_info": {"id": commit, "dirty": False},
                "benchmarks": benchmarks,
            }
        )
    )
    return path
