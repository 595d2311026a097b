"""Whole converted models under ``torch.compile(fullgraph=True)``: no graph break, the eager
results (forward and every gradient), one graph for every batch composition, and the task-id
contract for bad ids.

The models are tiny (ShuffleNetV2 x0.5 and a one-block-per-stage ResNet at 16 px, batch 6;
the default tier uses the small test network) and float64, so compiled and eager agree to
rounding. Compiling is what takes the time: the backbone tests are marked slow.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from lorkd_kernels import backends, convert, task_ids_context
from lorkd_kernels.pipeline.models import BasicBlock, ResNet, shufflenet_v2_x0_5
from lorkd_kernels.task_ids import task_order

from tests.toy_models import ToyNet, randomize_experts, rel_error

NUM_CLASSES = [3, 4, 2]
# mixed and unsorted; already sorted; task 1 absent
BATCHES = {
    "unsorted": [2, 0, 1, 0, 2, 1],
    "sorted": [0, 0, 1, 1, 2, 2],
    "absent task": [2, 0, 2, 0, 0, 2],
}
ARCHS = {
    "shufflenet_v2_x0_5": lambda: shufflenet_v2_x0_5(NUM_CLASSES),
    "resnet_1111": lambda: ResNet(BasicBlock, [1, 1, 1, 1], NUM_CLASSES),
}
# The default tier's model: every kind of layer the backbones have (dense, strided, depthwise,
# grouped, reflect-padded convs, BatchNorm, a hidden linear, task heads) in a graph that
# compiles in seconds.
QUICK = "toynet"
BUILDERS = {**ARCHS, QUICK: lambda: ToyNet(NUM_CLASSES)}


def _converted(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    router = convert(BUILDERS[arch](), len(NUM_CLASSES), rank=2)
    randomize_experts(router, seed=1)  # experts that differ, so a wrong task shows
    return router.double().train()


def _images(batch: int = 6) -> torch.Tensor:
    return torch.randn(
        batch, 3, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )


def _forward_backward(fn, model, x, task_ids):
    """The output, the input's gradient and every parameter's gradient of one training step."""
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = fn(x, task_ids)
    # weights per logit (padding columns are -inf: keep them out of the loss)
    finite = torch.where(out.isfinite(), out, torch.zeros_like(out))
    weights = torch.linspace(-1, 1, out.shape[1], dtype=out.dtype, device=out.device)
    (finite * weights).square().sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return out.detach(), x.grad, grads


def _break_report(model, args, error: Exception) -> str:
    """Why compiling failed, for the assertion message. ``torch._dynamo.explain`` is private; it
    only adds detail, and the raised error is reported if it is missing or fails."""
    try:
        explanation = torch._dynamo.explain(model)(*args)
        reasons = "\n".join(str(b.reason).splitlines()[0] for b in explanation.break_reasons)
        return f"{explanation.graph_break_count} graph breaks:\n{reasons}"
    except Exception:  # noqa: BLE001 - diagnosis only; the original error is the signal
        return f"{type(error).__name__}: {error}"


def _route(backend: str):
    if backend == "routed":
        return contextlib.nullcontext()
    if backends.active_backend("cpu") == backend:
        pytest.skip(f"the routed CPU backend already is {backend!r} (the 'routed' case covers it)")
    return backends.use(backend, "cpu")


def _assert_same(compiled, eager, what: str) -> None:
    """Every tensor within 1e-9 of its largest element (float64: rounding only). Per tensor
    rather than per element: a weight gradient that cancels (a conv before BatchNorm) keeps
    only the rounding of its terms."""
    out_c, dx_c, grads_c = compiled
    out_e, dx_e, grads_e = eager
    assert torch.equal(out_c.isinf(), out_e.isinf()), f"{what}: padding columns"
    finite = out_e.isfinite()
    pairs = {"output": (out_c[finite], out_e[finite]), "input grad": (dx_c, dx_e)}
    assert grads_c.keys() == grads_e.keys()
    pairs.update({f"gradient of {name}": (grads_c[name], grads_e[name]) for name in grads_e})
    for label, (actual, expected) in pairs.items():
        assert rel_error(actual, expected) <= 1e-9, f"{what}: {label}"


def _check_every_composition(arch: str, route, compiler: str, device: str = "cpu") -> None:
    """The first batch compiles; the others must run the same graph (the ids are data).
    ``route``: the context the model runs in (a backend choice), entered once for all batches."""
    model = _converted(arch).to(device)
    x = _images().to(device)
    compiled = torch.compile(model, fullgraph=True, backend=compiler)
    with route:
        for i, (name, ids) in enumerate(BATCHES.items()):
            task_ids = torch.tensor(ids, device=device)
            eager = _forward_backward(model, model, x, task_ids)
            with torch.compiler.set_stance("default" if i == 0 else "fail_on_recompile"):
                try:
                    traced = _forward_backward(compiled, model, x, task_ids)
                except Exception as error:  # noqa: BLE001 - re-raised with the diagnosis
                    if i == 0:
                        pytest.fail(_break_report(model, (x, task_ids), error))
                    raise
            _assert_same(traced, eager, f"{arch}, {name} batch")


# aot_eager: dynamo's one graph, AOTAutograd's forward and backward graphs through the ops' fake
# kernels and autograd, run by eager kernels. Inductor's code generation adds nothing of this
# library's and costs minutes on a small machine for a whole backbone, so it runs once, below, on
# the small model (the same EKS layers, heads and router; codegen of a few kernels, not hundreds).
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["routed", "torch"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_fullgraph_compile_matches_eager_for_every_batch_composition(arch, backend):
    _check_every_composition(arch, _route(backend), "aot_eager")


@pytest.mark.slow
def test_inductor_compile_matches_eager_for_every_batch_composition():
    _check_every_composition(QUICK, _route("routed"), "inductor")


def test_fullgraph_compile_of_a_small_converted_model_matches_eager():
    """The default tier's form of the tests above: the small model, forward and backward, every
    batch composition on one graph."""
    _check_every_composition(QUICK, _route("routed"), "aot_eager")


@pytest.mark.slow
def test_a_new_batch_size_compiles_one_dynamic_graph():
    """Batch 6 compiles a static graph; batch 4 one graph with a symbolic batch (torch's
    automatic dynamic shapes, through the ops' fake kernels); batch 5 reuses it."""
    model = _converted("shufflenet_v2_x0_5")
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    for batch, stance in ((6, "default"), (4, "default"), (5, "fail_on_recompile")):
        x = _images(batch)
        task_ids = torch.arange(batch).remainder(len(NUM_CLASSES)).flip(0)
        eager = _forward_backward(model, model, x, task_ids)
        with torch.compiler.set_stance(stance):
            traced = _forward_backward(compiled, model, x, task_ids)
        _assert_same(traced, eager, f"batch {batch}")


def test_bad_task_id_under_compile_is_a_clear_error():
    """The CPU backends range-check the ids inside the op, also when a compiled graph calls it:
    the same IndexError as in eager, never garbage."""
    model = _converted(QUICK).eval()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    with torch.no_grad(), pytest.raises(IndexError, match="task_ids contains 3"):
        compiled(_images(), torch.tensor([0, 1, 3, 0, 2, 1]))


def test_ids_set_outside_the_compiled_function_are_a_clear_error():
    """A fullgraph-compiled inner model cannot read ids an eager task_ids_context set around
    it: the error says what to compile instead (dynamo reports it as the graph break's reason)."""
    inner = _converted(QUICK).model.eval()
    compiled = torch.compile(inner, fullgraph=True, backend="eager")
    with torch.no_grad(), task_ids_context(torch.zeros(6, dtype=torch.int64)):
        with pytest.raises(RuntimeError, match="compile the TaskRouter"):
            compiled(_images())


def test_ids_set_outside_reach_a_compiled_model_through_a_graph_break():
    """Without fullgraph, a model compiled inside an eager task_ids_context still sees the ids
    (each read is a graph break, as before whole-model compile), so the results are eager's."""
    inner = _converted(QUICK).model.eval()
    compiled = torch.compile(inner, backend="eager")
    x, ids = _images(), torch.tensor(BATCHES["sorted"])
    with torch.no_grad(), task_ids_context(ids):
        torch.testing.assert_close(compiled(x), inner(x), rtol=1e-9, atol=1e-10)


def test_task_order_under_compile_always_permutes():
    """Eager skips the sort of a sorted batch (None); a traced graph cannot ask, so it sorts:
    the identity permutation for a sorted batch, the stable sort otherwise."""
    ids = torch.tensor([0, 0, 1, 2, 2])
    assert task_order(ids) is None
    traced = torch.compile(task_order, fullgraph=True, backend="eager")
    assert torch.equal(traced(ids), torch.arange(5))
    unsorted = torch.tensor([2, 0, 1, 0])
    assert torch.equal(traced(unsorted), torch.argsort(unsorted, stable=True))
