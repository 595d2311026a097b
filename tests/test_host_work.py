"""Host work per training step and per layer, counted exactly (``tests/host_work.py``).

* A training step of a converted model reads the task ids on the host once: the batch's task
  plan (``lorkd_kernels/task_plan.py``); no layer, head or backward reads them again. On a GPU
  each such read is a device sync.
* The CUDA C++ kernels' host check (run here by the emulator) never copies planned ids to the
  host.
* The ATen calls an EKS layer of the ``cpu`` backend adds beyond the plain layer stay within the
  counts below, so per-layer host work cannot creep back.
* The triton backend's launch budget per layer (``tests/backends/triton/test_host_work.py``)
  holds under the interpreter (slow tier; the interpreter step runs that file directly too).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lorkd_kernels import EKSConv2d, EKSLinear, backends, convert, task_ids_context
from tests.host_work import count_host_work
from tests.toy_models import ToyNet, randomize_experts

ROOT = Path(__file__).resolve().parents[1]
NUM_TASKS = 3


def _converted_toy(device) -> torch.nn.Module:
    torch.manual_seed(0)
    router = convert(ToyNet([3, 4, 2]), NUM_TASKS, rank=2)
    randomize_experts(router)
    return router.to(device)


def check_one_read_per_step(device) -> None:
    """A step as the training loop runs it (ids in a ``task_ids_context``) and one through the
    ``TaskRouter`` (unsorted ids): one host read each, forward and backward together."""
    router = _converted_toy(device)
    x = torch.randn(6, 3, 8, 8, device=device)
    labels = torch.tensor([0, 1, 0, 1, 2, 0], device=device)
    ids = torch.tensor([2, 0, 1, 0, 2, 1], device=device)

    def loop_step():
        with task_ids_context(ids):
            F.cross_entropy(router.model(x), labels).backward()

    def router_step():
        F.cross_entropy(router(x, ids), labels).backward()

    for step in (loop_step, router_step):
        step()  # warm: first-call work is not per step
        work = count_host_work(step)
        assert work.syncs == 1, work


def test_a_training_step_reads_the_ids_once():
    check_one_read_per_step("cpu")


def test_the_torch_backend_takes_its_segments_from_the_plan():
    """The portable backend needs each task's sample count as a Python int: it takes them from
    the plan's host copy, so a step still reads the ids once, and a standalone op call once."""
    with backends.use("torch", "cpu"):
        check_one_read_per_step("cpu")
        conv = EKSConv2d(3, 4, 3, padding=1, num_tasks=NUM_TASKS, rank=2)
        x = torch.randn(4, 3, 5, 5)
        ids = torch.tensor([2, 0, 1, 0])
        assert count_host_work(lambda: conv(x, ids)).syncs == 1


@pytest.mark.skipif(
    backends.availability("cuda_emu") is not None,
    reason="the emulated CUDA kernels need the compiled library",
)
def test_the_cuda_kernels_host_check_reads_planned_ids_never():
    reads = torch.ops.lorkd._host_task_id_reads
    conv = EKSConv2d(3, 4, 3, padding=1, num_tasks=NUM_TASKS, rank=2)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    ids = torch.tensor([2, 0, 1, 0])
    with backends.use("cuda_emu", "cpu"):
        before = reads()
        conv(x, ids).sum().backward()  # standalone: each op call reads
        standalone = reads() - before
        with task_ids_context(ids) as planned:
            y = conv(x, planned)
        y.sum().backward()
        planned_reads = reads() - before - standalone
        with pytest.raises(IndexError, match=r"task_ids contains 3, outside \[0, 3\)"):
            with task_ids_context(torch.tensor([0, 3, 1, 1])) as bad:
                conv(x, bad)
    assert standalone == 2 and planned_reads == 0


# The CUDA C++ kernels per planned layer (the emulator records each launch; the plain conv's
# cuDNN calls count as ATen calls): (forward, backward) launches. The split form meets the
# budget of the issue that introduced it (3, 6), and so does the fused form (1, 3): dgrad, the
# per-task wgrad, and one launch for the dW0, dA/dB and dbias reductions that keep it free of
# atomics.
CUDA_LAUNCHES = {
    ("conv", "split"): (3, 5),
    ("conv", "merged"): (1, 3),
    ("linear", "merged"): (1, 3),
}


@pytest.mark.skipif(
    backends.availability("cuda_emu") is not None,
    reason="the emulated CUDA kernels need the compiled library",
)
@pytest.mark.parametrize("kind, strategy", sorted(CUDA_LAUNCHES))
def test_the_cuda_kernels_launch_budget_per_planned_layer(kind, strategy):
    torch.manual_seed(0)
    layer = (
        EKSConv2d(6, 8, 3, padding=1, num_tasks=NUM_TASKS, rank=2)
        if kind == "conv"
        else EKSLinear(6, 8, num_tasks=NUM_TASKS, rank=2)
    )
    x = torch.randn((6, 6, 5, 5) if kind == "conv" else (6, 4, 6), requires_grad=True)
    with (
        backends.use("cuda_emu", "cpu"),
        backends.conv_strategy(strategy),
        task_ids_context(torch.tensor([2, 0, 1, 0, 2, 2])) as planned,
    ):
        y = layer(x, planned)
        grad = torch.ones_like(y)
        forward = count_host_work(lambda: layer(x, planned))
        backward = count_host_work(lambda: y.backward(grad))
    assert (forward.launches, backward.launches) == CUDA_LAUNCHES[(kind, strategy)], (
        forward,
        backward,
    )
    assert forward.syncs == backward.syncs == 0


# ATen calls that would launch on a GPU, beyond the plain layer's, forward + backward of one
# layer on the cpu backend (cost model's choice, batch 6 of 3 tasks): ceilings, at today's counts.
CPU_EXTRA_CALLS = {"conv3x3": 18, "conv1x1": 20, "depthwise": 20, "linear": 21}


def _layers(kind: str):
    if kind == "linear":
        return EKSLinear(8, 6, num_tasks=NUM_TASKS, rank=2), torch.randn(6, 8)
    kernel, groups = {"conv3x3": (3, 1), "conv1x1": (1, 1), "depthwise": (3, 8)}[kind]
    conv = EKSConv2d(8, 8, kernel, padding=kernel // 2, groups=groups, num_tasks=NUM_TASKS, rank=2)
    return conv, torch.randn(6, 8, 6, 6)


@pytest.mark.parametrize("kind", sorted(CPU_EXTRA_CALLS))
def test_the_cpu_backend_adds_a_bounded_number_of_aten_calls_per_layer(kind):
    torch.manual_seed(0)
    layer, x = _layers(kind)
    x.requires_grad_()
    ids = torch.tensor([0, 0, 1, 1, 2, 2])

    def step(module, planned=None):
        for t in (x, *module.parameters()):  # no accumulation into earlier gradients
            t.grad = None
        out = module(x, planned) if planned is not None else module(x)
        out.sum().backward()

    with backends.use("cpu", "cpu"), task_ids_context(ids) as planned:
        step(layer, planned)
        eks = count_host_work(lambda: step(layer, planned))
    base = _plain_of(layer)
    step(base)
    plain_work = count_host_work(lambda: step(base))
    extra = eks.launches - plain_work.launches
    assert extra <= CPU_EXTRA_CALLS[kind], (eks, plain_work)
    assert eks.syncs == 0


def _plain_of(layer) -> torch.nn.Module:
    if isinstance(layer, EKSLinear):
        return torch.nn.Linear(layer.in_features, layer.out_features)
    return torch.nn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        padding=layer.padding,
        groups=layer.groups,
    )


# about 40 s of interpreted kernels: the slow tier; .ci/run's interpreter step runs the same file
# directly, so the default run leaves it to those two
@pytest.mark.slow
def test_the_triton_launch_budget_holds_under_the_interpreter():
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop("LORKD_BACKEND", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--require",
            "triton",
            "tests/backends/triton/test_host_work.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
