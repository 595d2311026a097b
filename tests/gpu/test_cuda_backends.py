"""Every backend of the registry that runs on a CUDA GPU, on one: against the float64 reference,
with bad task ids, captured in CUDA graphs, and under ``torch.compile(fullgraph=True)``.

The tier ``-m gpu`` (left out of the default run, like ``slow``); ``python -m
benchmarks.gpu_acceptance`` runs it with ``--require gpu,triton,cuda-build`` after building the
CUDA kernels. Without a GPU every test skips, or fails under ``--require gpu``.

The forms tested: ``triton`` in both conv forms (``fused`` and ``split``,
``backends.triton_strategy``), ``cuda`` (the CUDA C++ kernels of a CUDA build of ``_C``) and
``torch``. Each is called through its own ops (``backends.explicit``) with their autograd, so
one run checks all of them whatever the routes.

Cases per form (``gpu_estimate`` counts them by collecting this file): every conv and linear case
of ``tests/eks_cases.py`` in fp32, a subset with 1x1/3x3 kernels in fp16 and bf16 (each distinct
kernel size and dtype is a Triton compile of its own), two bad ids per layer kind, CUDA-graph
replay of forward and forward+backward, and a converted small model compiled.
"""

from __future__ import annotations

import contextlib
import zlib

import pytest
import torch

from lorkd_kernels import backends
from lorkd_kernels.backends import registry
from tests import requirements
from tests.eks_cases import (
    CONV_CASES,
    LINEAR_CASES,
    TOLERANCE,
    conv_problem,
    linear_problem,
    reference_outputs,
    rel_error,
)
from tests.pipeline.test_routing_compile import QUICK, _check_every_composition

pytestmark = pytest.mark.gpu

DEVICE = "cuda"
GRAD_NAMES = ("x", "weight", "bias", "lora_A", "lora_B")
#: backend (and triton conv form) per test; the feature ``--require`` names when one is missing
FORMS = {"triton-fused": "triton", "triton-split": "triton", "cuda": "cuda-build", "torch": "gpu"}
#: the forms whose kernels size their launches from shapes alone, so a CUDA graph can capture
#: them; the torch backend sizes its per-task calls from the plan's host copy of the ids
CAPTURABLE = ("triton-fused", "triton-split", "cuda")
HALF_CONV = ("1x1", "3x3", "stride2", "groups2", "depthwise", "per_sample")
HALF_LINEAR = ("basic", "tokens", "per_sample")
BAD_IDS = (-1, "T")  # "T": the number of tasks, one past the last expert


def _dtype_cases(cases, half_names):
    params = [pytest.param(case, torch.float32, id=f"{case}-float32") for case in cases]
    for dtype in (torch.float16, torch.bfloat16):
        params += [
            pytest.param(case, dtype, id=f"{case}-{dtype}".replace("torch.", ""))
            for case in cases
            if case.name in half_names
        ]
    return params


CONV_PARAMS = _dtype_cases(CONV_CASES, HALF_CONV)
LINEAR_PARAMS = _dtype_cases(LINEAR_CASES, HALF_LINEAR)


@pytest.fixture(autouse=True)
def _gpu_visible():
    if not torch.cuda.is_available():
        requirements.unavailable(
            "gpu", "no CUDA GPU is visible (torch.cuda.is_available() is False)"
        )


def _unavailable(form: str):
    """Why ``form`` cannot run on CUDA tensors in this process, or None."""
    backend = form.split("-")[0]
    if backend == "triton" and registry.triton_interpreting():
        return "TRITON_INTERPRET=1 runs triton on CPU tensors only; unset it for the GPU"
    return backends.availability(backend, DEVICE)


def _entered(form: str):
    """The context a form runs in: the triton conv form forced, else nothing."""
    backend, _, conv_form = form.partition("-")
    return backends.triton_strategy(conv_form) if conv_form else contextlib.nullcontext()


def _ops_of(form: str):
    """The form's ops (``eks_conv2d``, ``eks_linear``) with its triton conv form in force; the
    test skips (or fails under ``--require``) where the form cannot run."""
    reason = _unavailable(form)
    if reason is not None:
        requirements.unavailable(FORMS[form], reason)
    with _entered(form):
        yield backends.explicit(form.split("-")[0])


@pytest.fixture(params=list(FORMS))
def ops(request):
    yield from _ops_of(request.param)


@pytest.fixture(params=CAPTURABLE)
def capturable_ops(request):
    yield from _ops_of(request.param)


def _op(ops, kind: str):
    return ops.eks_conv2d if kind == "conv" else ops.eks_linear


def _on_device(problem, dtype, requires_grad: bool):
    return [
        None if t is None else t.to(DEVICE).requires_grad_(requires_grad)
        for t in problem.tensors(dtype)
    ]


def _check(problem, kind: str, ops, dtype, record_error) -> None:
    """Forward and every gradient within TOLERANCE[dtype]; absent tasks' expert gradients 0."""
    y_ref, grads_ref = reference_outputs(problem, kind)
    inputs = _on_device(problem, dtype, requires_grad=True)
    tol = TOLERANCE[dtype]
    y = _op(ops, kind)(*inputs, problem.task_ids.to(DEVICE), *problem.config)
    assert y.dtype == dtype and y.device.type == DEVICE
    err = rel_error(y.cpu(), y_ref)
    record_error(f"gpu-{ops.name}", dtype, "forward", err)
    assert err <= tol, f"forward error {err:.2e} > {tol:.0e}"
    wanted = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(y, wanted, problem.grad_out.to(dtype).to(DEVICE)))
    grads = [None if t is None else next(grads) for t in inputs]
    for name, grad, ref in zip(GRAD_NAMES, grads, grads_ref):
        if ref is None:
            continue
        err = rel_error(grad.cpu(), ref)
        record_error(f"gpu-{ops.name}", dtype, "grad", err)
        assert err <= tol, f"{name} gradient error {err:.2e} > {tol:.0e}"
    for task in problem.absent_tasks():
        for name, grad in (("lora_A", grads[3]), ("lora_B", grads[4])):
            assert torch.count_nonzero(grad[task]) == 0, f"absent task {task}: {name} != 0"


def _seed(case) -> int:
    return zlib.crc32(case.name.encode())


def test_every_cuda_backend_of_the_registry_is_tested():
    tested = {form.split("-")[0] for form in FORMS}
    assert set(backends.available_backends(DEVICE)) - {"reference"} <= tested


@pytest.mark.parametrize("case,dtype", CONV_PARAMS)
def test_conv2d_matches_reference(ops, case, dtype, record_error):
    _check(conv_problem(case, seed=_seed(case)), "conv", ops, dtype, record_error)


@pytest.mark.parametrize("case,dtype", LINEAR_PARAMS)
def test_linear_matches_reference(ops, case, dtype, record_error):
    _check(linear_problem(case, seed=_seed(case)), "linear", ops, dtype, record_error)


def _problem(kind: str, seed: int):
    return (
        conv_problem(CONV_CASES[1], seed=seed)
        if kind == "conv"
        else linear_problem(LINEAR_CASES[0], seed=seed)
    )


@pytest.mark.parametrize("bad", BAD_IDS, ids=str)
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_bad_task_id_is_a_clear_error(ops, kind, bad):
    """An id outside [0, T) is the IndexError naming it, and the device stays usable."""
    problem = _problem(kind, seed=3)
    num_tasks = problem.lora_A.shape[0]
    bad = num_tasks if bad == "T" else bad
    inputs = _on_device(problem, torch.float32, requires_grad=False)
    task_ids = problem.task_ids.to(DEVICE)
    bad_ids = task_ids.clone()
    bad_ids[0] = bad
    with pytest.raises(IndexError, match=rf"task_ids contains {bad}\b.*outside \[0, {num_tasks}\)"):
        _op(ops, kind)(*inputs, bad_ids, *problem.config)
    y = _op(ops, kind)(*inputs, task_ids, *problem.config)
    torch.cuda.synchronize()
    assert torch.isfinite(y).all()


def _step(op, inputs, task_ids, config, grad_out, backward: bool):
    """The output, and with ``backward`` every input's gradient, of one call."""
    y = op(*inputs, task_ids, *config)
    if not backward:
        return [y]
    wanted = [t for t in inputs if t is not None]
    return [y, *torch.autograd.grad(y, wanted, grad_out)]


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward+backward"])
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_cuda_graph_replay_equals_eager(capturable_ops, kind, backward):
    """Captured once on static inputs, replayed on new values and new task ids copied into
    them: the replay's results are eager's on those values."""
    problem, fresh = _problem(kind, seed=4), _problem(kind, seed=5)
    op = _op(capturable_ops, kind)
    static = _on_device(problem, torch.float32, requires_grad=backward)
    task_ids = problem.task_ids.to(DEVICE)
    grad_out = problem.grad_out.float().to(DEVICE)
    args = (op, static, task_ids, problem.config, grad_out, backward)
    # Triton's JIT and autotuning, cuDNN's algorithm choice and the allocator's first blocks
    # happen in warm-up on a side stream, as torch.cuda.graph's documentation asks.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            _step(*args)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = _step(*args)
    with torch.no_grad():
        for target, source in zip(static, _on_device(fresh, torch.float32, False)):
            if target is not None:
                target.copy_(source)
        task_ids.copy_(fresh.task_ids.to(DEVICE))
        grad_out.copy_(fresh.grad_out.float().to(DEVICE))
    graph.replay()
    eager = _step(*args)
    torch.cuda.synchronize()
    # the split form's base conv runs cuDNN, whose weight gradient may sum in another order
    for got, want in zip(captured, eager):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", list(FORMS))
def test_compiled_converted_model_matches_eager(form):
    """``torch.compile(fullgraph=True)`` of the converted small model on the GPU, every batch
    composition on one graph, forward and every gradient equal to eager (float64, 1e-9)."""
    reason = _unavailable(form)
    if reason is not None:
        requirements.unavailable(FORMS[form], reason)
    route = contextlib.ExitStack()
    route.enter_context(backends.use(form.split("-")[0], DEVICE))
    route.enter_context(_entered(form))
    _check_every_composition(QUICK, route, "aot_eager", DEVICE)


def test_inductor_compiled_converted_model_matches_eager():
    """The same through inductor's code generation, on the GPU's default route."""
    _check_every_composition(QUICK, contextlib.nullcontext(), "inductor", DEVICE)


@pytest.mark.parametrize("form", (*CAPTURABLE, "torch"))
def test_a_planned_training_step_never_syncs(form):
    """The batch's ids are read once, on the host before they reach the GPU (``planned_on``, as
    the training loop does): a whole training step of a converted model, every layer forward and
    backward and the task heads, then runs under ``set_sync_debug_mode("error")``."""
    import torch.nn.functional as F

    from lorkd_kernels import task_ids_context
    from lorkd_kernels.task_plan import planned_on
    from tests.test_host_work import _converted_toy

    reason = _unavailable(form)
    if reason is not None:
        requirements.unavailable(FORMS[form], reason)
    router = _converted_toy(DEVICE)
    x = torch.randn(6, 3, 8, 8, device=DEVICE)
    labels = torch.tensor([0, 1, 0, 1, 2, 0], device=DEVICE)
    ids = planned_on(torch.tensor([2, 0, 1, 0, 2, 1]), DEVICE)

    def step():
        with task_ids_context(ids):
            F.cross_entropy(router.model(x), labels).backward()

    with backends.use(form.split("-")[0], DEVICE), _entered(form):
        step()  # first calls: compiles, cached tables
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
