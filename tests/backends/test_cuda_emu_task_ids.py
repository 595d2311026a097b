"""The CUDA C++ kernels' task-id contract, run by the emulator: IndexError where the host checks
the ids, NaN in every output and gradient it affects where it cannot (CUDA-graph capture)."""

from __future__ import annotations

import pytest

import lorkd_kernels.ops  # noqa: F401  (loads the compiled library, whatever was imported first)
from lorkd_kernels import backends
from lorkd_kernels.backends import registry
from tests.backends.task_id_contract import check_index_error, check_nan_contract

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(
        not backends.compiled_loaded(), reason="the emulated kernels are in the compiled library"
    ),
]


@pytest.fixture(scope="module")
def cuda_emu():
    return registry.module("cuda_emu")


@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("bad_id", [2, -1])
def test_bad_task_id_is_an_index_error(cuda_emu, kind, bad_id):
    check_index_error(cuda_emu, kind, "cpu", bad_id)


@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("bad_id", [2, -1])
def test_unchecked_bad_task_id_gives_nan(cuda_emu, kind, bad_id):
    check_nan_contract(cuda_emu, kind, "cpu", bad_id)
