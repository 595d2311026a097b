"""Every backend's forward and backward kernels against the float64 reference."""

from __future__ import annotations

import contextlib
import functools
import zlib

import pytest
import torch

from lorkd_kernels import backends, reference
from lorkd_kernels._env import BUILDS, env_choice
from lorkd_kernels.backends import conv_strategy, measured, registry
from tests.eks_cases import (
    CONV_CASES,
    LINEAR_CASES,
    TOLERANCE,
    conv_problem,
    emulator_sized,
    linear_problem,
    reference_outputs,
    rel_error,
)

GRAD_NAMES = ("x", "weight", "bias", "lora_A", "lora_B")
CPU_BACKENDS = backends.available_backends("cpu")
#: the emulated CUDA kernels run a fiber per CUDA thread (far slower than the native kernels):
#: their cases run in a CI step of their own (``-m emulator``)
EMULATOR = pytest.mark.emulator


@contextlib.contextmanager
def poisoned_allocations():
    """Inside, torch fills fresh tensors with NaN, so output elements a kernel never writes show
    up as errors instead of passing by luck with leftover memory."""
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_filling = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = was_filling


def _poisoned(fn):
    @functools.wraps(fn)
    def run(*args):
        with poisoned_allocations():
            return fn(*args)

    return run


def _with_strategy(fn, strategy):
    """``fn`` run under a forced conv strategy (the compiled kernels read it per call)."""

    @functools.wraps(fn)
    def run(*args):
        with conv_strategy(strategy):
            return fn(*args)

    return run


def _measuring_afresh(fn):
    """``fn`` with measured choices on and none recorded yet: every call times the candidates
    and returns the fastest's result (the path a measurement takes)."""

    @functools.wraps(fn)
    def run(*args):
        with measured.measuring():
            measured.clear_choices()
            return fn(*args)

    return run


def _backend_params():
    """One parameter set per backend of the registry that runs CPU tensors here (and per forced
    conv strategy where a backend has them). The triton backend has its own tests
    (tests/backends/triton), run under the interpreter in a CI step of their own."""
    for name in CPU_BACKENDS:
        if name == "triton":
            continue
        module = registry.module(name)
        functions = (
            module.conv2d_forward,
            module.conv2d_backward,
            module.linear_forward,
            module.linear_backward,
        )
        if name in ("torch", "cpu"):
            extra = ("auto", "stacked") if name == "cpu" else ()  # stacked: cpu only
            for strategy in extra + ("merged", "split"):
                conv_fwd, conv_bwd = (_with_strategy(f, strategy) for f in functions[:2])
                yield pytest.param(
                    f"{name}-{strategy}",
                    conv_fwd,
                    conv_bwd,
                    *functions[2:],
                    id=f"{name}-{strategy}",
                )
            if name == "cpu":
                conv_fwd, conv_bwd = (_measuring_afresh(f) for f in functions[:2])
                yield pytest.param(
                    "cpu-measured", conv_fwd, conv_bwd, *functions[2:], id="cpu-measured"
                )
        elif name == "cuda_emu":  # outputs allocated NaN-poisoned: unwritten elements show
            # both conv forms: the fused kernels ("merged") and the split form (cuDNN's conv and
            # the branch kernels); auto picks one of them per layer
            for form, strategy in (("fused", "merged"), ("split", "split")):
                conv_fwd, conv_bwd = (_poisoned(_with_strategy(f, strategy)) for f in functions[:2])
                yield pytest.param(
                    f"{name}-{form}",
                    conv_fwd,
                    conv_bwd,
                    *(_poisoned(f) for f in functions[2:]),
                    id=f"{name}-{form}",
                    marks=EMULATOR,
                )
        else:
            yield pytest.param(name, *functions, id=name)


BACKENDS = list(_backend_params())
FAST_BACKENDS = [p for p in BACKENDS if p.values[0] != "reference"]
REFERENCE = [p for p in BACKENDS if p.values[0] == "reference"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# The reference accumulates in its input dtype: it is the float64 oracle, tested in fp32/fp64 only.
DTYPE_BACKENDS = [
    pytest.param(*b.values, d, id=f"{b.id}-{d}".replace("torch.", ""), marks=b.marks)
    for b in FAST_BACKENDS
    for d in DTYPES
] + [pytest.param(*b.values, torch.float32, id=f"{b.id}-float32") for b in REFERENCE]


def test_every_cpu_backend_of_the_registry_is_tested():
    if env_choice("LORKD_BUILD", BUILDS) == "python":
        pytest.skip("compiled kernels disabled")
    assert backends.compiled_loaded(), "lorkd_kernels._C was not loaded; see the warning at import"
    tested = {p.values[0].split("-")[0] for p in BACKENDS}
    assert tested == set(CPU_BACKENDS) - {"triton"}


def _sized(name: str, case):
    """The emulated CUDA kernels run each conv case at its emulator size (eks_cases.py)."""
    return emulator_sized(case) if name.startswith("cuda_emu") else case


def _check(problem, kind, name, fwd, bwd, dtype, record_error, mask=(True,) * 5):
    y_ref, grads_ref = reference_outputs(problem, kind)
    inputs = problem.tensors(dtype)
    tol = TOLERANCE[dtype]
    y = fwd(*inputs, problem.task_ids, *problem.config)
    assert y.dtype == dtype and y.is_contiguous()
    err = rel_error(y, y_ref)
    record_error(name, dtype, "forward", err)
    assert err <= tol, f"forward error {err:.2e} > {tol:.0e}"

    has_bias = problem.bias is not None
    mask = [m and (i != 2 or has_bias) for i, m in enumerate(mask)]
    x, weight, _, lora_A, lora_B = inputs
    grads = bwd(
        problem.grad_out.to(dtype),
        x,
        weight,
        lora_A,
        lora_B,
        problem.task_ids,
        *problem.config,
        mask,
    )
    assert len(grads) == 5
    for gname, grad, ref, need in zip(GRAD_NAMES, grads, grads_ref, mask):
        if not need:
            assert grad.numel() == 0, f"{gname} gradient was not requested but has data"
            continue
        assert grad.dtype == dtype, f"{gname} gradient has dtype {grad.dtype}"
        err = rel_error(grad, ref)
        record_error(name, dtype, "grad", err)
        assert err <= tol, f"{gname} gradient error {err:.2e} > {tol:.0e}"
    for task in problem.absent_tasks():
        for gname, grad in (("lora_A", grads[3]), ("lora_B", grads[4])):
            if grad.numel():
                assert torch.count_nonzero(grad[task]) == 0, f"absent task {task}: {gname} != 0"


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd,dtype", DTYPE_BACKENDS)
def test_conv2d(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, dtype, case, record_error):
    _check(
        conv_problem(_sized(name, case), seed=zlib.crc32(case.name.encode())),
        "conv",
        name,
        conv_fwd,
        conv_bwd,
        dtype,
        record_error,
    )


@pytest.mark.parametrize("case", LINEAR_CASES, ids=str)
@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd,dtype", DTYPE_BACKENDS)
def test_linear(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, dtype, case, record_error):
    _check(
        linear_problem(case, seed=zlib.crc32(case.name.encode())),
        "linear",
        name,
        lin_fwd,
        lin_bwd,
        dtype,
        record_error,
    )


@pytest.mark.parametrize(
    "mask",
    [
        (True, False, False, False, False),
        (False, True, True, False, False),
        (False, False, False, True, True),
        (False, False, False, False, True),
    ],
    ids=str,
)
@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", BACKENDS)
def test_partial_output_mask(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, mask, record_error):
    conv_case = CONV_CASES[3]
    _check(
        conv_problem(conv_case, seed=5),
        "conv",
        name,
        conv_fwd,
        conv_bwd,
        torch.float32,
        record_error,
        mask,
    )
    _check(
        linear_problem(LINEAR_CASES[2], seed=5),
        "linear",
        name,
        lin_fwd,
        lin_bwd,
        torch.float32,
        record_error,
        mask,
    )


@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", BACKENDS)
def test_float64_matches_reference_tightly(
    name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, record_error
):
    for case in (CONV_CASES[1], CONV_CASES[8], CONV_CASES[13]):
        _check(
            conv_problem(_sized(name, case), seed=11),
            "conv",
            name,
            conv_fwd,
            conv_bwd,
            torch.float64,
            record_error,
        )
    _check(
        linear_problem(LINEAR_CASES[0], seed=11),
        "linear",
        name,
        lin_fwd,
        lin_bwd,
        torch.float64,
        record_error,
    )


# cpu-measured times the candidates afresh on every call, and the fastest may differ from call to
# call: its determinism once a choice is recorded is tested in test_measured.py.
@pytest.mark.parametrize(
    "name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", [p for p in BACKENDS if p.values[0] != "cpu-measured"]
)
def test_results_are_deterministic(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd):
    problem = conv_problem(CONV_CASES[7], seed=3)
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    args = (problem.task_ids, *problem.config)
    first = conv_fwd(x, weight, bias, lora_A, lora_B, *args)
    grads = conv_bwd(problem.grad_out.float(), x, weight, lora_A, lora_B, *args, [True] * 5)
    for _ in range(2):
        assert torch.equal(conv_fwd(x, weight, bias, lora_A, lora_B, *args), first)
        again = conv_bwd(problem.grad_out.float(), x, weight, lora_A, lora_B, *args, [True] * 5)
        assert all(torch.equal(a, b) for a, b in zip(again, grads))


@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", FAST_BACKENDS)
def test_paper_formulation_agrees_with_backend(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd):
    for case in CONV_CASES:
        problem = conv_problem(_sized(name, case), seed=17)
        inputs = problem.tensors(torch.float64)
        paper = reference.eks_conv2d_paper(*inputs, problem.task_ids, *problem.config)
        got = conv_fwd(*inputs, problem.task_ids, *problem.config)
        assert rel_error(got, paper) <= 1e-12, case.name
    for case in LINEAR_CASES:
        problem = linear_problem(case, seed=17)
        inputs = problem.tensors(torch.float64)
        paper = reference.eks_linear_paper(*inputs, problem.task_ids, *problem.config)
        assert rel_error(lin_fwd(*inputs, problem.task_ids, *problem.config), paper) <= 1e-12


@EMULATOR
@pytest.mark.parametrize("case", CONV_CASES + LINEAR_CASES, ids=str)
def test_emulated_cuda_kernels_give_identical_results_every_run(case):
    """The emulation runs the threads of a block in an order shuffled afresh between barriers, so
    a missing barrier or a write race shows up as results that move between runs of the same
    inputs."""
    is_conv = case in CONV_CASES
    problem = (
        conv_problem(emulator_sized(case), seed=23) if is_conv else linear_problem(case, seed=23)
    )
    cuda_emu = registry.module("cuda_emu")
    fwd, bwd = (
        (cuda_emu.conv2d_forward, cuda_emu.conv2d_backward)
        if is_conv
        else (cuda_emu.linear_forward, cuda_emu.linear_backward)
    )
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    args = (problem.task_ids, *problem.config)
    mask = [True, True, bias is not None, True, True]

    def run():
        with poisoned_allocations():
            return (
                fwd(x, weight, bias, lora_A, lora_B, *args),
                *bwd(problem.grad_out.float(), x, weight, lora_A, lora_B, *args, mask),
            )

    first = run()
    for _ in range(2):
        assert all(torch.equal(a, b) for a, b in zip(run(), first))
