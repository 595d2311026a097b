"""Test options, hypothesis profiles, and the largest error seen per backend and dtype (printed
after the run).

Options (``python -m pytest --help``, group "lorkd"):

* ``--require FEATURE``: a test that needs FEATURE (triton, cuda-build, torchvision, cmake,
  medmnist, gpu: a CUDA GPU) fails instead of skipping when it is missing;
* ``--cuda-library PATH``: a CUDA build of ``lorkd_kernels._C`` for
  ``tests/backends/test_cuda_build.py``;
* ``--hypothesis-profile NAME`` (hypothesis' own option): ``default`` runs 100 examples per fuzz
  test, ``interpreter`` 25 (each example launches kernels under the Triton interpreter), ``deep``
  1000 for a longer local search.
"""

from __future__ import annotations

import collections

import pytest
from hypothesis import HealthCheck, settings

from tests import requirements

_FUZZ = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", max_examples=100, **_FUZZ)
settings.register_profile("interpreter", max_examples=25, **_FUZZ)
settings.register_profile("deep", max_examples=1000, **_FUZZ)
settings.load_profile("default")

MAX_ERRORS = collections.defaultdict(float)


def pytest_addoption(parser):
    group = parser.getgroup("lorkd")
    group.addoption(
        "--require",
        action="append",
        default=[],
        metavar="FEATURE",
        help="fail, instead of skipping, the tests that need FEATURE when it is "
        f"missing; one of {', '.join(requirements.FEATURES)} (repeatable, or "
        "comma-separated)",
    )
    group.addoption(
        "--cuda-library",
        default=None,
        metavar="PATH",
        help="a CUDA build of lorkd_kernels._C to check (tests/backends/test_cuda_build.py)",
    )


def pytest_configure(config):
    requirements.configure(config.getoption("--require"))


@pytest.fixture
def record_error():
    def record(backend: str, dtype, what: str, err: float) -> None:
        key = (backend, str(dtype).replace("torch.", ""), what)
        MAX_ERRORS[key] = max(MAX_ERRORS[key], err)

    return record


def pytest_terminal_summary(terminalreporter):
    if not MAX_ERRORS:
        return
    terminalreporter.section("largest relative error vs float64 reference")
    for (backend, dtype, what), err in sorted(MAX_ERRORS.items()):
        terminalreporter.write_line(f"{backend:14s} {dtype:9s} {what:7s} {err:.2e}")
