"""The registered ops through the dispatcher: opcheck, gradcheck, compile, validation, N = 0."""

from __future__ import annotations

import contextlib

import pytest
import torch

import lorkd_kernels
from lorkd_kernels import EKSConv2d, EKSLinear, eks_conv2d, eks_linear, ops, reference
from lorkd_kernels import backends
from lorkd_kernels.backends import _settings, active_backend
from tests.eks_cases import CONV_CASES, LINEAR_CASES, conv_problem, linear_problem

OPS = torch.ops.lorkd


def _conv_args(case_index=1, dtype=torch.float64, requires_grad=True, seed=0):
    problem = conv_problem(CONV_CASES[case_index], seed=seed)
    return (*problem.tensors(dtype, requires_grad), problem.task_ids, *problem.config)


def _linear_args(case_index=2, dtype=torch.float64, requires_grad=True, seed=0):
    problem = linear_problem(LINEAR_CASES[case_index], seed=seed)
    return (*problem.tensors(dtype, requires_grad), problem.task_ids, *problem.config)


@pytest.mark.parametrize("name", sorted(ops.SCHEMAS))
def test_registered_schema_matches_python_definition(name):
    registered = getattr(OPS, name).default._schema
    expected = torch._C.parse_schema("lorkd::" + ops.SCHEMAS[name])
    assert str(registered) == str(expected)


@pytest.mark.parametrize("case_index", [0, 2, 7, 8, 13], ids=lambda i: CONV_CASES[i].name)
def test_opcheck_conv2d(case_index):
    torch.library.opcheck(OPS.eks_conv2d.default, _conv_args(case_index, torch.float32))


@pytest.mark.parametrize("case_index", [0, 2, 5], ids=lambda i: LINEAR_CASES[i].name)
def test_opcheck_linear(case_index):
    torch.library.opcheck(OPS.eks_linear.default, _linear_args(case_index, torch.float32))


def _backward_args(forward_args):
    """The backward op's arguments for a forward call: a random grad_out, every gradient asked."""
    x, weight, _, lora_A, lora_B, task_ids, *config = forward_args
    grad_out = torch.randn_like(
        getattr(OPS, "eks_conv2d" if x.dim() == 4 else "eks_linear")(
            x, weight, None, lora_A, lora_B, task_ids, *config
        )
    )
    return (grad_out, x, weight, lora_A, lora_B, task_ids, *config, [True] * 5)


# Compiled graphs trust the fake kernels for every output's strides (inductor asserts them), so
# each algorithm a backend may choose must return what the fake promises: dense gradients.
_FAKE_CHECKS = ("test_schema", "test_faketensor")


def _forced_algorithms() -> list:
    """(context, name) of each algorithm the active backend can be forced to choose."""
    name = active_backend()
    if name in ("cpu", "torch"):
        return [(backends.conv_strategy, s) for s in _settings.conv_strategies()]
    if name == "triton":
        return [(backends.triton_strategy, s) for s in _settings.TRITON_STRATEGIES if s != "auto"]
    return [(contextlib.nullcontext, "only")]  # nullcontext(name) forces nothing


# The emulated and interpreted backends take seconds a call: there, one case per kind of host
# code (dense, depthwise, strided 1x1); their outputs' layout is set on the host.
_FAKE_CASES = (
    range(len(CONV_CASES))
    if active_backend() in ("cpu", "torch", "reference")
    else [i for i, c in enumerate(CONV_CASES) if c.name in ("3x3", "depthwise_mult2", "1x1_stride")]
)


@pytest.mark.parametrize("algorithm", _forced_algorithms(), ids=lambda a: a[1])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("case_index", _FAKE_CASES, ids=lambda i: CONV_CASES[i].name)
def test_conv_fake_kernels_match_every_algorithm(case_index, channels_last, algorithm):
    forced, name = algorithm
    x, *rest = _conv_args(case_index, torch.float32, requires_grad=False)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    with forced(name):
        torch.library.opcheck(OPS.eks_conv2d.default, (x, *rest), test_utils=_FAKE_CHECKS)
        torch.library.opcheck(
            OPS.eks_conv2d_backward.default, _backward_args((x, *rest)), test_utils=_FAKE_CHECKS
        )


@pytest.mark.parametrize("case_index", range(len(LINEAR_CASES)), ids=lambda i: LINEAR_CASES[i].name)
def test_linear_fake_kernels_match_every_algorithm(case_index):
    forward_args = _linear_args(case_index, torch.float32, requires_grad=False)
    torch.library.opcheck(OPS.eks_linear.default, forward_args, test_utils=_FAKE_CHECKS)
    torch.library.opcheck(
        OPS.eks_linear_backward.default, _backward_args(forward_args), test_utils=_FAKE_CHECKS
    )


def test_opcheck_without_bias():
    args = list(_conv_args(3, torch.float32))
    args[2] = None
    torch.library.opcheck(OPS.eks_conv2d.default, tuple(args))


@pytest.mark.parametrize("case_index", [1, 8, 13], ids=lambda i: CONV_CASES[i].name)
def test_gradcheck_conv2d(case_index):
    problem = conv_problem(CONV_CASES[case_index], seed=2)
    small = problem.tensors(torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: eks_conv2d(*t, problem.task_ids, *problem.config), tuple(small)
    )


def test_gradcheck_linear():
    problem = linear_problem(LINEAR_CASES[2], seed=2)
    inputs = problem.tensors(torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: eks_linear(*t, problem.task_ids, *problem.config), tuple(inputs)
    )


_GRAD_INPUTS = ("x", "weight", "bias", "lora_A", "lora_B")


@pytest.mark.parametrize("has_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(
    "wanted",
    [("x",), ("weight",), ("bias",), ("lora_A",), ("lora_B",), ("x", "lora_B"), ("bias", "lora_A")],
    ids=lambda names: "+".join(names),
)
def test_requested_gradients_land_on_their_own_inputs(wanted, has_bias):
    """Autograd numbers only the tensors it is given: without a bias, lora_A and lora_B move
    one place, and only some inputs may ask for a gradient; each gradient must still match the
    reference on its own input."""
    for op, args in (
        (eks_conv2d, _conv_args(1, torch.float64, False, seed=3)),
        (eks_linear, _linear_args(2, torch.float64, False, seed=3)),
    ):
        tensors = dict(zip(_GRAD_INPUTS, args[:5]))
        if not has_bias:
            tensors["bias"] = None
        for name in wanted:
            if tensors[name] is not None:
                tensors[name].requires_grad_(True)
        out = op(*tensors.values(), *args[5:])
        if not any(t is not None and t.requires_grad for t in tensors.values()):
            assert out.grad_fn is None
            continue
        grad_out = torch.randn_like(out)
        out.backward(grad_out)

        expected_out = (
            reference.eks_conv2d_per_sample if op is eks_conv2d else reference.eks_linear_per_sample
        )
        leaves = {
            k: (v.detach().clone().requires_grad_(True) if v is not None else None)
            for k, v in tensors.items()
        }
        expected_out(*leaves.values(), *args[5:]).backward(grad_out)
        for name in wanted:
            if tensors[name] is not None:
                torch.testing.assert_close(
                    tensors[name].grad, leaves[name].grad, rtol=1e-9, atol=1e-9
                )


def test_compiled_autograd_runs_in_cpp():
    """With the compiled library loaded, the ops' autograd node is the C++ one (no Python per
    call); without it, the Python formula serves."""
    x, weight, bias, lora_A, lora_B, task_ids, *config = _conv_args(1, torch.float32)
    node = eks_conv2d(x, weight, bias, lora_A, lora_B, task_ids, *config).grad_fn.name()
    if lorkd_kernels.backends.compiled_loaded():
        assert "EksConv2dFunction" in node
    else:
        assert "EksConv2dFunction" not in node


class _SmallEKSNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = EKSConv2d(3, 8, 3, padding=1, padding_mode="reflect", num_tasks=3, rank=2)
        self.dw = EKSConv2d(8, 8, 3, stride=2, padding=1, groups=8, num_tasks=3, rank=2)
        self.head = EKSLinear(8, 5, num_tasks=3, rank=2)
        for layer in (self.stem, self.dw, self.head):
            torch.nn.init.normal_(layer.lora_B, std=0.5)

    def forward(self, x, task_ids):
        h = torch.relu(self.stem(x, task_ids))
        h = torch.relu(self.dw(h, task_ids))
        return self.head(h.mean((2, 3)), task_ids)


def test_torch_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    model = _SmallEKSNet()
    x = torch.randn(6, 3, 9, 7)
    task_ids = torch.tensor([2, 0, 2, 1, 0, 0])
    compiled = torch.compile(model, fullgraph=True)

    def run(fn):
        model.zero_grad()
        xg = x.clone().requires_grad_(True)
        y = fn(xg, task_ids)
        y.square().sum().backward()
        return [y.detach(), xg.grad] + [p.grad.clone() for p in model.parameters()]

    eager, traced = run(model), run(compiled)
    for a, b in zip(eager, traced):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- bad input


def _replace(args, **changes):
    names = ["x", "weight", "bias", "lora_A", "lora_B", "task_ids"]
    args = list(args)
    for key, value in changes.items():
        args[names.index(key)] = value
    return args


BAD_CONV_INPUTS = [
    (
        "task id too large",
        dict(task_ids=torch.tensor([0, 1, 4, 0, 0, 0, 0])),
        IndexError,
        "task_ids contains 4",
    ),
    (
        "negative task id",
        dict(task_ids=torch.tensor([0, -1, 0, 0, 0, 0, 0])),
        IndexError,
        "task_ids contains -1",
    ),
    (
        "task_ids length",
        dict(task_ids=torch.zeros(6, dtype=torch.int64)),
        ValueError,
        "task_ids has 6 entries",
    ),
    ("task_ids dtype", dict(task_ids=torch.zeros(7)), TypeError, "task_ids must be an int64"),
    (
        "task_ids rank",
        dict(task_ids=torch.zeros(7, 1, dtype=torch.int64)),
        ValueError,
        "task_ids must be 1-D",
    ),
    (
        "task_ids device",
        dict(task_ids=torch.zeros(7, dtype=torch.int64, device="meta")),
        ValueError,
        "task_ids is on meta",
    ),
    ("x rank", dict(x=torch.randn(7, 6, 7)), ValueError, "x must be 4-D"),
    ("x channels", dict(x=torch.randn(7, 5, 7, 5)), ValueError, "x has 5 channels"),
    (
        "x dtype",
        dict(x=torch.randn(7, 6, 7, 5, dtype=torch.float64)),
        TypeError,
        "weight has dtype torch.float32 but x has dtype torch.float64",
    ),
    (
        "x integer",
        dict(x=torch.ones(7, 6, 7, 5, dtype=torch.int32)),
        TypeError,
        "x must be a floating tensor",
    ),
    ("lora_A columns", dict(lora_A=torch.randn(4, 3, 50)), ValueError, "lora_A has 50 columns"),
    ("lora_B shape", dict(lora_B=torch.randn(4, 5, 2)), ValueError, "lora_B must have shape"),
    (
        "lora dtype",
        dict(lora_A=torch.randn(4, 3, 54, dtype=torch.float64)),
        TypeError,
        "lora_A has dtype",
    ),
    ("bias shape", dict(bias=torch.randn(4)), ValueError, "bias must have shape"),
]


@pytest.mark.parametrize("entry_point", ["functional", "raw_op"])
@pytest.mark.parametrize(
    "label,change,exc,message", BAD_CONV_INPUTS, ids=[b[0] for b in BAD_CONV_INPUTS]
)
def test_bad_conv_input_is_named(label, change, exc, message, entry_point):
    args = _replace(_conv_args(1, torch.float32, requires_grad=False), **change)
    fn = eks_conv2d if entry_point == "functional" else OPS.eks_conv2d
    with pytest.raises(exc, match=message):
        fn(*args)


@pytest.mark.parametrize("entry_point", ["functional", "raw_op"])
def test_bad_linear_input_is_named(entry_point):
    fn = eks_linear if entry_point == "functional" else OPS.eks_linear
    args = _linear_args(0, torch.float32, requires_grad=False)
    with pytest.raises(IndexError, match="task_ids contains 9"):
        fn(*_replace(args, task_ids=torch.full((7,), 9, dtype=torch.int64)))
    with pytest.raises(ValueError, match="x has 12 features"):
        fn(*_replace(args, x=torch.randn(7, 12)))
    with pytest.raises(ValueError, match="x must be at least 2-D"):
        fn(*_replace(args, x=torch.randn(13)))


def test_bad_grad_out_shape_is_named():
    x, weight, bias, lora_A, lora_B, task_ids, *config = _conv_args(1, torch.float32, False)
    with pytest.raises(ValueError, match="grad_out"):
        OPS.eks_conv2d_backward(
            torch.randn(7, 5, 3, 3), x, weight, lora_A, lora_B, task_ids, *config, [True] * 5
        )


def test_empty_batch_gives_empty_output_and_grads():
    x, weight, bias, lora_A, lora_B, _, *config = _conv_args(2, torch.float32)
    x = x.detach()[:0].requires_grad_(True)
    y = eks_conv2d(x, weight, bias, lora_A, lora_B, torch.zeros(0, dtype=torch.int64), *config)
    assert y.shape == (0, 5, 9, 8)
    y.sum().backward()
    assert x.grad.shape == x.shape
    for p in (weight, bias, lora_A, lora_B):
        assert p.grad.shape == p.shape and torch.count_nonzero(p.grad) == 0

    lx, lw, lb, la, lbb, _, scaling = _linear_args(2, torch.float32)
    lx = lx.detach()[:0].requires_grad_(True)
    ly = eks_linear(lx, lw, lb, la, lbb, torch.zeros(0, dtype=torch.int64), scaling)
    assert ly.shape == (0, 5, 7)
    ly.sum().backward()
    assert lx.grad.shape == lx.shape
    for p in (lw, lb, la, lbb):
        assert p.grad.shape == p.shape and torch.count_nonzero(p.grad) == 0


def test_linear_with_empty_token_dim():
    lx, lw, lb, la, lbb, task_ids, scaling = _linear_args(2, torch.float32)
    lx = torch.randn(7, 0, 13, requires_grad=True)
    ly = eks_linear(lx, lw, lb, la, lbb, task_ids, scaling)
    assert ly.shape == (7, 0, 7)
    ly.sum().backward()
    assert lx.grad.shape == lx.shape and torch.count_nonzero(lw.grad) == 0


def test_active_backend_is_reported():
    forced = backends.forced_backend()
    assert active_backend("cpu") in (forced or "cpu", "torch")
    assert lorkd_kernels.active_backend("cuda") in ("torch", "reference", "triton", "cuda")
