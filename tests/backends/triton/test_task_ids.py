"""The Triton kernels' task-id contract (the same as the CUDA C++ kernels'): IndexError where the
host checks the ids, NaN in every output and gradient it affects where it cannot."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from tests.backends.task_id_contract import check_index_error, check_nan_contract
from tests.backends.triton.conftest import DEVICE


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("bad_id", [2, -1])
def test_bad_task_id_is_an_index_error(backend, kind, bad_id):
    check_index_error(backend, kind, DEVICE, bad_id)


@pytest.mark.parametrize("kind", ["conv", "linear"])
@pytest.mark.parametrize("bad_id", [2, -1])
def test_unchecked_bad_task_id_gives_nan(backend, kind, bad_id, poisoned_outputs, small_tiles):
    check_nan_contract(backend, kind, DEVICE, bad_id)


def test_cuda_inputs_get_the_host_check_too(backend):
    """CUDA tensors were launched unchecked (a bad id became a device assert): the check now runs
    for them as well, outside CUDA-graph capture."""
    cuda_input = SimpleNamespace(device=torch.device("cuda"))
    with pytest.raises(IndexError, match=r"task_ids contains 3, outside \[0, 2\)"):
        backend._planned(cuda_input, torch.tensor([0, 3]), 2)


def test_bad_task_id_in_a_traced_graph_is_an_error_or_nan(backend):
    """torch.compile traces the launchers without reading the ids (``host_checks.may_read``).
    A bad id is then the eager IndexError where the graph runs the op whole, or NaN rows where
    the graph launches the kernels itself (inductor on a GPU); the other rows stay exact."""
    from lorkd_kernels import EKSConv2d, backends

    torch.manual_seed(0)
    conv = EKSConv2d(2, 4, 3, padding=1, num_tasks=2, rank=2).to(DEVICE)
    torch.nn.init.normal_(conv.lora_B)
    x = torch.randn(3, 2, 5, 5, device=DEVICE)
    traced = torch.compile(conv, fullgraph=True, backend="aot_eager")
    with backends.use("triton", DEVICE):
        expected = conv(x, torch.tensor([0, 0, 1], device=DEVICE))
        try:
            y = traced(x, torch.tensor([0, 5, 1], device=DEVICE))
        except IndexError as error:
            assert "task_ids contains 5" in str(error)
            return
    assert y[1].isnan().all()
    torch.testing.assert_close(y[[0, 2]], expected[[0, 2]])
