"""When the GPU kernels' backends range-check task ids on the host (backends/host_checks.py)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from lorkd_kernels.backends import host_checks, host_task_id_checks


def test_checks_run_unless_turned_off_or_capturing(monkeypatch):
    cpu_ids, cuda_ids = torch.tensor([0]), SimpleNamespace(is_cuda=True, is_meta=False)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: False)
    assert host_checks.may_read(cpu_ids) and host_checks.may_read(cuda_ids)
    with host_task_id_checks(False):
        assert not host_checks.may_read(cpu_ids) and not host_checks.may_read(cuda_ids)
        with host_task_id_checks(True):
            assert host_checks.may_read(cpu_ids)
        assert not host_checks.may_read(cpu_ids)
    assert host_checks.may_read(cpu_ids)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    assert not host_checks.may_read(cuda_ids) and host_checks.may_read(cpu_ids)


def test_no_host_read_while_compile_traces():
    """While torch.compile traces a launcher the ids are symbolic: the check is skipped (the
    compiled graph launches the kernels without it, so their NaN contract applies)."""
    ids = torch.tensor([0, 1])
    assert host_checks.may_read(ids)
    # the traced function adds 1 where may_read would say yes
    traced = torch.compile(
        lambda t: t + int(host_checks.may_read(t)), fullgraph=True, backend="eager"
    )
    assert torch.equal(traced(ids), ids)
