"""Every backend's forward and backward kernels against the float64 reference."""

from __future__ import annotations

import contextlib
import functools
import os
import zlib

import pytest
import torch

from lorkd_kernels import reference
from lorkd_kernels.backends import (active_backend, conv_strategy, cuda_emu, reference_impl,
                                    torch_ops)
from tests.eks_cases import (CONV_CASES, LINEAR_CASES, TOLERANCE, conv_problem, linear_problem,
                             reference_outputs, rel_error)

GRAD_NAMES = ("x", "weight", "bias", "lora_A", "lora_B")
CPU_COMPILED = active_backend("cpu") == "cpu"
needs_compiled = pytest.mark.skipif(
    not CPU_COMPILED, reason="lorkd_kernels._C not built (installed with LORKD_NO_EXTENSIONS=1)")
needs_emulation = pytest.mark.skipif(
    not cuda_emu.available(),
    reason="lorkd_kernels._C not built (installed with LORKD_NO_EXTENSIONS=1)")


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


def _backend_params():
    ops = torch.ops.lorkd
    yield pytest.param("reference", reference_impl.conv2d_forward, reference_impl.conv2d_backward,
                       reference_impl.linear_forward, reference_impl.linear_backward,
                       id="reference")
    for strategy in ("merged", "split"):
        yield pytest.param(
            f"torch-{strategy}",
            functools.partial(torch_ops.conv2d_forward, strategy=strategy),
            functools.partial(torch_ops.conv2d_backward, strategy=strategy),
            torch_ops.linear_forward, torch_ops.linear_backward, id=f"torch-{strategy}")
    for strategy in ("auto", "merged", "split"):
        conv_fwd, conv_bwd = ops.eks_conv2d.default, ops.eks_conv2d_backward.default
        yield pytest.param(f"cpu-{strategy}", _with_strategy(conv_fwd, strategy),
                           _with_strategy(conv_bwd, strategy), ops.eks_linear.default,
                           ops.eks_linear_backward.default, id=f"cpu-{strategy}",
                           marks=needs_compiled)
    # the CUDA kernel bodies, run on CPU threads by the emulation harness
    yield pytest.param("cuda_emu", *(_poisoned(f) for f in (
        cuda_emu.conv2d_forward, cuda_emu.conv2d_backward, cuda_emu.linear_forward,
        cuda_emu.linear_backward)), id="cuda_emu", marks=needs_emulation)


BACKENDS = list(_backend_params())
FAST_BACKENDS = [p for p in BACKENDS if p.values[0] != "reference"]
REFERENCE = [p for p in BACKENDS if p.values[0] == "reference"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# The reference accumulates in its input dtype: it is the float64 oracle, tested in fp32/fp64 only.
DTYPE_BACKENDS = ([pytest.param(*b.values, d, id=f"{b.id}-{d}".replace("torch.", ""),
                                marks=b.marks) for b in FAST_BACKENDS for d in DTYPES] +
                  [pytest.param(*b.values, torch.float32, id=f"{b.id}-float32")
                   for b in REFERENCE])


def test_compiled_library_loaded_unless_disabled():
    if os.environ.get("LORKD_NO_EXTENSIONS") == "1" or os.environ.get("LORKD_BACKEND"):
        pytest.skip("compiled kernels disabled or a backend is forced")
    assert CPU_COMPILED, "lorkd_kernels._C was not loaded; see the warning at import"


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
    grads = bwd(problem.grad_out.to(dtype), x, weight, lora_A, lora_B, problem.task_ids,
                *problem.config, mask)
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
    _check(conv_problem(case, seed=zlib.crc32(case.name.encode())), "conv", name, conv_fwd,
           conv_bwd, dtype, record_error)


@pytest.mark.parametrize("case", LINEAR_CASES, ids=str)
@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd,dtype", DTYPE_BACKENDS)
def test_linear(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, dtype, case, record_error):
    _check(linear_problem(case, seed=zlib.crc32(case.name.encode())), "linear", name, lin_fwd,
           lin_bwd, dtype, record_error)


@pytest.mark.parametrize("mask", [(True, False, False, False, False),
                                  (False, True, True, False, False),
                                  (False, False, False, True, True),
                                  (False, False, False, False, True)], ids=str)
@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", BACKENDS)
def test_partial_output_mask(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd, mask, record_error):
    conv_case = CONV_CASES[3]
    _check(conv_problem(conv_case, seed=5), "conv", name, conv_fwd, conv_bwd, torch.float32,
           record_error, mask)
    _check(linear_problem(LINEAR_CASES[2], seed=5), "linear", name, lin_fwd, lin_bwd,
           torch.float32, record_error, mask)


@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", BACKENDS)
def test_float64_matches_reference_tightly(name, conv_fwd, conv_bwd, lin_fwd, lin_bwd,
                                           record_error):
    for case in (CONV_CASES[1], CONV_CASES[8], CONV_CASES[13]):
        _check(conv_problem(case, seed=11), "conv", name, conv_fwd, conv_bwd, torch.float64,
               record_error)
    _check(linear_problem(LINEAR_CASES[0], seed=11), "linear", name, lin_fwd, lin_bwd,
           torch.float64, record_error)


@pytest.mark.parametrize("name,conv_fwd,conv_bwd,lin_fwd,lin_bwd", BACKENDS)
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
        problem = conv_problem(case, seed=17)
        inputs = problem.tensors(torch.float64)
        paper = reference.eks_conv2d_paper(*inputs, problem.task_ids, *problem.config)
        got = conv_fwd(*inputs, problem.task_ids, *problem.config)
        assert rel_error(got, paper) <= 1e-12, case.name
    for case in LINEAR_CASES:
        problem = linear_problem(case, seed=17)
        inputs = problem.tensors(torch.float64)
        paper = reference.eks_linear_paper(*inputs, problem.task_ids, *problem.config)
        assert rel_error(lin_fwd(*inputs, problem.task_ids, *problem.config), paper) <= 1e-12


@needs_emulation
@pytest.mark.parametrize("case", CONV_CASES + LINEAR_CASES, ids=str)
def test_emulated_cuda_kernels_give_identical_results_every_run(case):
    """The emulation runs every CUDA thread of a block as an OS thread, so a missing barrier or
    a write race shows up as results that move between runs of the same inputs."""
    is_conv = case in CONV_CASES
    problem = (conv_problem if is_conv else linear_problem)(case, seed=23)
    fwd, bwd = ((cuda_emu.conv2d_forward, cuda_emu.conv2d_backward) if is_conv else
                (cuda_emu.linear_forward, cuda_emu.linear_backward))
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    args = (problem.task_ids, *problem.config)
    mask = [True, True, bias is not None, True, True]

    def run():
        with poisoned_allocations():
            return (fwd(x, weight, bias, lora_A, lora_B, *args),
                    *bwd(problem.grad_out.float(), x, weight, lora_A, lora_B, *args, mask))

    first = run()
    for _ in range(2):
        assert all(torch.equal(a, b) for a, b in zip(run(), first))
