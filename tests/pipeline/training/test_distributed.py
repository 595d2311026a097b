"""``torchrun`` with 2 CPU processes (gloo) trains the same weights as one process running the
same global batch as 2 accumulated micro-batches (see training/loop.py: the same shards)."""

from __future__ import annotations

import pytest
import torch

from tests.pipeline.training.tiny import run_cli, saved_state, tiny_args

EXTRA = ("--progress", "off", "--kd-on", "both")


@pytest.mark.slow  # two torchrun processes and one reference run each: CI step 'slow'
@pytest.mark.parametrize("balanced", [False, True])
def test_two_processes_match_one_process(tmp_path, balanced):
    data_root = tmp_path / "data"
    extra = EXTRA + (("--balanced",) if balanced else ())
    single = run_cli(tiny_args(tmp_path / "single", data_root, *extra, "--grad-accum", "2"))
    assert single.returncode == 0, single.stderr
    ddp = run_cli(
        tiny_args(tmp_path / "ddp", data_root, *extra),
        launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"),
    )
    assert ddp.returncode == 0, ddp.stderr
    # rank 0 alone writes and prints
    assert ddp.stdout.count("method: lorkd") == 1
    for name in ("teacher.pt", "student.pt"):
        a, b = saved_state(tmp_path / "single" / name), saved_state(tmp_path / "ddp" / name)
        assert a.keys() == b.keys()
        for key in a:  # weights and BatchNorm running statistics alike
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5, msg=key)
    # a different split of the batch trains different weights: the comparison can fail
    other = run_cli(tiny_args(tmp_path / "other", data_root, *extra, "--grad-accum", "1"))
    assert other.returncode == 0, other.stderr
    a, c = (
        saved_state(tmp_path / "single" / "student.pt"),
        saved_state(tmp_path / "other" / "student.pt"),
    )
    assert any(not torch.allclose(a[k], c[k], rtol=1e-4, atol=1e-5) for k in a)
