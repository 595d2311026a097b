"""Property-based checks: random EKS conv/linear problems, every backend vs the float64 oracle.

Failures print a reproduction blob (``print_blob``); shrunk failing cases belong in
``tests/eks_cases.py`` as regular cases.
"""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lorkd_kernels import backends
from lorkd_kernels.backends import registry
from tests.eks_cases import TOLERANCE, Problem, reference_outputs, rel_error

# The example budget per (op, backend, dtype) comes from the hypothesis profile
# (tests/conftest.py: --hypothesis-profile deep for a longer search).
FUZZ = settings()


def _fuzzed_backends():
    """Conv and linear functions of every CPU backend of the registry (per conv strategy where
    it has them). The emulated CUDA kernels are left out (too slow for hundreds of examples; the
    shape matrix of test_kernels.py covers them), and triton is fuzzed through the public ops in
    its CI step (``LORKD_BACKEND=triton`` runs tests/nn/test_conv_fuzz.py)."""
    conv, linear = {}, {}
    for name in backends.available_backends("cpu"):
        if name in ("cuda_emu", "triton"):
            continue
        module = registry.module(name)
        linear[name] = (module.linear_forward, module.linear_backward)
        if name == "torch":
            for strategy in ("merged", "split"):
                conv[f"torch-{strategy}"] = (
                    functools.partial(module.conv2d_forward, strategy=strategy),
                    functools.partial(module.conv2d_backward, strategy=strategy),
                )
        else:
            conv[name] = (module.conv2d_forward, module.conv2d_backward)
        if name == "cpu":  # the stacked split wherever it applies (the cost model takes it
            # only for wide convs, which the fuzzed shapes rarely are)
            conv["cpu-stacked"] = tuple(_forced("stacked", f) for f in conv[name])
    return conv, linear


def _forced(strategy, fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with backends.conv_strategy(strategy):
            return fn(*args, **kwargs)

    return run


CONV_BACKENDS, LINEAR_BACKENDS = _fuzzed_backends()


@st.composite
def conv_problems(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    dilation = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    padding = [draw(st.integers(0, 2)), draw(st.integers(0, 2))]
    span = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1]
    h = draw(st.integers(max(1, span[0] - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, span[1] - 2 * padding[1]), 9))
    batch, num_tasks = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rank = draw(st.integers(1, 4))
    task_ids = torch.tensor(
        draw(st.lists(st.integers(0, num_tasks - 1), min_size=batch, max_size=batch)),
        dtype=torch.int64,
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    k_dim = c_in // groups * kh * kw

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    out_h = (h + 2 * padding[0] - span[0]) // stride[0] + 1
    out_w = (w + 2 * padding[1] - span[1]) // stride[1] + 1
    bias = rand(c_out) if draw(st.booleans()) else None
    return Problem(
        rand(batch, c_in, h, w),
        rand(c_out, c_in // groups, kh, kw),
        bias,
        rand(num_tasks, rank, k_dim),
        rand(num_tasks, c_out, rank),
        task_ids,
        rand(batch, c_out, out_h, out_w),
        (stride, padding, dilation, groups, draw(st.sampled_from([0.5, 1.0, 4.0]))),
    )


@st.composite
def linear_problems(draw):
    batch, num_tasks = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rank = draw(st.integers(1, 6))
    in_f, out_f = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    inner = draw(st.lists(st.integers(1, 3), max_size=2))
    task_ids = torch.tensor(
        draw(st.lists(st.integers(0, num_tasks - 1), min_size=batch, max_size=batch)),
        dtype=torch.int64,
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    bias = rand(out_f) if draw(st.booleans()) else None
    return Problem(
        rand(batch, *inner, in_f),
        rand(out_f, in_f),
        bias,
        rand(num_tasks, rank, in_f),
        rand(num_tasks, out_f, rank),
        task_ids,
        rand(batch, *inner, out_f),
        (draw(st.sampled_from([0.5, 1.0, 4.0])),),
    )


def _scaled_error(actual: torch.Tensor, expected: torch.Tensor, magnitude: torch.Tensor) -> float:
    """fp16, bf16 and fp32: max|actual - expected| over the largest sum of term magnitudes, so a
    cancelling sum (a tiny result of large terms) is held to the precision of its terms, each
    rounded to 8, 11 or 24 bits (an fp32 weight gradient of -3e-4 from terms summing to 6.7 is
    off by 1e-7, 3e-4 of itself but 1.3e-8 of its terms). fp64: plain relative error against the
    result."""
    if actual.dtype in (torch.float16, torch.bfloat16, torch.float32):
        return ((actual.double() - expected).abs().max() / magnitude.max().clamp_min(1e-30)).item()
    return rel_error(actual, expected)


def _assert_matches(problem, kind, fwd, bwd, dtype):
    problem = problem.rounded(dtype)  # the reference sees the kernel's inputs exactly
    y_ref, grads_ref = reference_outputs(problem, kind)
    y_mag, grads_mag = reference_outputs(problem.magnitudes(), kind)
    x, weight, bias, lora_A, lora_B = problem.tensors(dtype)
    y = fwd(x, weight, bias, lora_A, lora_B, problem.task_ids, *problem.config)
    tol = TOLERANCE[dtype]
    assert _scaled_error(y, y_ref, y_mag) <= tol
    mask = [True, True, bias is not None, True, True]
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
    for grad, ref, mag, need in zip(grads, grads_ref, grads_mag, mask):
        if need:
            assert _scaled_error(grad, ref, mag) <= tol
    for task in problem.absent_tasks():
        assert torch.count_nonzero(grads[3][task]) == 0
        assert torch.count_nonzero(grads[4][task]) == 0


CASES = [("conv", name) for name in sorted(CONV_BACKENDS)] + [
    ("linear", name) for name in sorted(LINEAR_BACKENDS)
]


@pytest.mark.parametrize(
    "dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str
)
@pytest.mark.parametrize("kind,backend", CASES, ids=[f"{k}-{b}" for k, b in CASES])
def test_fuzz_against_reference(kind, backend, dtype):
    fwd, bwd = (CONV_BACKENDS if kind == "conv" else LINEAR_BACKENDS)[backend]

    @FUZZ
    @given(conv_problems() if kind == "conv" else linear_problems())
    def check(problem):
        _assert_matches(problem, kind, fwd, bwd, dtype)

    check()
