"""Task ids through models that never pass them: the context, and TaskRouter's sort/unsort."""

from __future__ import annotations

import collections
import dataclasses

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSConv2d, TaskRouter, current_task_ids, task_ids_context
from lorkd_kernels.task_plan import attached_plan


class RecordIds(nn.Module):
    """Returns its input and remembers the task ids it saw; outputs nested containers."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = None

    def forward(self, x):
        self.seen = current_task_ids()
        return {"out": x * 2, "pair": (x, torch.tensor(7.0))}


def _is_alias_of(ids: torch.Tensor, of: torch.Tensor) -> bool:
    """The context hands out an alias of the caller's ids carrying the batch's task plan."""
    return (
        ids.data_ptr() == of.data_ptr()
        and torch.equal(ids, of)
        and attached_plan(ids) is not None
        and attached_plan(of) is None
    )


def test_context_nests_and_resets():
    outer, inner = torch.tensor([0, 1]), torch.tensor([2])
    assert current_task_ids() is None
    with task_ids_context(outer) as outer_ids:
        with task_ids_context(inner) as inner_ids:
            assert current_task_ids() is inner_ids and _is_alias_of(inner_ids, inner)
        assert current_task_ids() is outer_ids and _is_alias_of(outer_ids, outer)
    assert current_task_ids() is None


def test_context_plans_the_batch_with_one_host_read():
    ids = torch.tensor([0, 0, 2, 1])
    with torch.profiler.profile() as trace:
        with task_ids_context(ids) as planned:
            plan = attached_plan(planned)
    reads = [e for e in trace.events() if e.name == "lorkd::read_task_ids"]
    assert len(reads) == 1
    assert plan.id_range == (0, 2) and plan.is_sorted is False
    assert plan.bounds(3).tolist() == [0, 0, 2, 3, 4, 4]
    with pytest.raises(IndexError, match="task_ids contains 2, outside \\[0, 2\\)"):
        plan.check_range(2)


def test_context_resets_after_an_exception():
    with pytest.raises(RuntimeError):
        with task_ids_context(torch.tensor([0])):
            raise RuntimeError("boom")
    assert current_task_ids() is None


def test_router_sorts_once_and_restores_order():
    probe = RecordIds()
    router = TaskRouter(probe)
    x = torch.randn(6, 3)
    task_ids = torch.tensor([2, 0, 1, 0, 2, 1])
    out = router(x, task_ids)
    assert torch.equal(probe.seen, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert torch.equal(out["out"], x * 2)
    assert torch.equal(out["pair"][0], x)
    assert out["pair"][1].item() == 7.0


def test_router_without_sorting_passes_ids_as_given():
    probe = RecordIds()
    task_ids = torch.tensor([1, 0, 1])
    TaskRouter(probe, sort=False)(torch.randn(3, 2), task_ids)
    assert torch.equal(probe.seen, task_ids)


def test_router_accepts_one_int_for_the_batch():
    probe = RecordIds()
    TaskRouter(probe)(torch.randn(4, 2), 3)
    assert torch.equal(probe.seen, torch.full((4,), 3))


def test_eks_layer_reads_routed_ids_and_matches_explicit_ids():
    torch.manual_seed(0)
    conv = EKSConv2d(3, 5, 3, padding=1, num_tasks=3)
    nn.init.normal_(conv.lora_B, std=0.1)
    x = torch.randn(5, 3, 6, 7)
    task_ids = torch.tensor([2, 0, 2, 1, 0])
    routed = TaskRouter(conv)(x, task_ids)
    torch.testing.assert_close(routed, conv(x, task_ids), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "task_ids, error, match",
    [
        (torch.tensor([0, 1]), ValueError, r"shape \(3,\)"),
        (torch.tensor([[0, 1, 1]]), ValueError, r"shape \(3,\)"),
        (torch.tensor([0, 1, 1], dtype=torch.int32), TypeError, "int64"),
        ([0, 1, 1], TypeError, "list"),
    ],
)
def test_router_rejects_bad_task_ids(task_ids, error, match):
    with pytest.raises(error, match=match):
        TaskRouter(RecordIds())(torch.randn(3, 2), task_ids)


def test_layer_without_ids_or_router_names_the_fix():
    conv = EKSConv2d(2, 2, 1, num_tasks=2)
    with pytest.raises(ValueError, match="TaskRouter"):
        conv(torch.randn(1, 2, 3, 3))


def test_routed_ids_of_another_batch_size_are_rejected():
    conv = EKSConv2d(2, 2, 1, num_tasks=2)
    with task_ids_context(torch.tensor([0, 1, 1])):
        with pytest.raises(ValueError, match="batch of 3"):
            conv(torch.randn(2, 2, 3, 3))


class Weigh(nn.Module):
    """``x * weights``, plus an offset from nested keyword arguments: per-sample extra
    arguments, which must stay aligned with the samples of ``x``."""

    def forward(self, x, weights, extra=None, scale=1.0):
        out = x * weights * scale
        if extra is not None:
            out = out + extra["offset"][0] + extra["shared"]
        return out


@pytest.mark.parametrize(
    "task_ids", [torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1])], ids=["sorted", "unsorted"]
)
def test_router_keeps_extra_per_sample_arguments_aligned(task_ids):
    x, weights = torch.tensor([0.0, 10.0, 20.0]), torch.tensor([1.0, 2.0, 3.0])
    offset, shared = torch.tensor([100.0, 200.0, 300.0]), torch.tensor([0.5])
    out = TaskRouter(Weigh())(
        x, task_ids, weights, extra={"offset": [offset], "shared": shared}, scale=2
    )
    torch.testing.assert_close(out, x * weights * 2 + offset + shared)


@dataclasses.dataclass
class Rows:
    logits: torch.Tensor
    name: str = "rows"


@dataclasses.dataclass(frozen=True)
class FrozenRows:
    logits: torch.Tensor


class AttributeDict(collections.OrderedDict):
    """Like transformers' ModelOutput: an OrderedDict whose items are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(name) from error


class Wrapped:
    def __init__(self, logits):
        self.logits = logits


class Structured(nn.Module):
    """Returns each sample's input row (its own value), wrapped by ``wrap``."""

    def __init__(self, wrap):
        super().__init__()
        self.wrap = wrap

    def forward(self, x):
        return self.wrap(x * 1.0)


@pytest.mark.parametrize(
    "task_ids", [torch.tensor([0, 1, 2, 2]), torch.tensor([2, 0, 1, 0])], ids=["sorted", "unsorted"]
)
@pytest.mark.parametrize(
    "wrap, read",
    [
        (lambda y: Rows(y), lambda out: out.logits),
        (lambda y: FrozenRows(y), lambda out: out.logits),
        (lambda y: collections.OrderedDict(logits=y), lambda out: out["logits"]),
        (lambda y: AttributeDict(logits=y, extra=[y]), lambda out: out.logits),
        (lambda y: [Rows(y)], lambda out: out[0].logits),
    ],
    ids=["dataclass", "frozen_dataclass", "ordered_dict", "model_output_like", "nested"],
)
def test_router_restores_the_order_inside_any_container_and_keeps_its_type(task_ids, wrap, read):
    x = torch.arange(4.0).unsqueeze(1) * 10
    out = TaskRouter(Structured(wrap))(x, task_ids)
    expected = wrap(x)
    assert type(out) is type(expected)
    torch.testing.assert_close(read(out), x)
    if isinstance(out, AttributeDict):
        torch.testing.assert_close(out["extra"][0], x)


def test_router_refuses_an_output_it_cannot_reorder_only_when_it_permuted():
    x = torch.arange(3.0).unsqueeze(1)
    router = TaskRouter(Structured(Wrapped))
    assert isinstance(router(x, torch.tensor([0, 1, 2])), Wrapped)  # nothing to restore
    with pytest.raises(TypeError, match="cannot put the rows of a Wrapped back"):
        router(x, torch.tensor([2, 0, 1]))


class Pair:
    """A container registered with torch's pytree, as libraries register their output types."""

    def __init__(self, first, second):
        self.first, self.second = first, second


def test_router_restores_the_order_inside_a_pytree_registered_container():
    pytree = pytest.importorskip("torch.utils._pytree")
    pytree.register_pytree_node(
        Pair, lambda p: ([p.first, p.second], None), lambda children, _: Pair(*children)
    )
    try:
        x = torch.arange(3.0).unsqueeze(1)
        out = TaskRouter(Structured(lambda y: Pair(y, [y * 2])))(x, torch.tensor([2, 0, 1]))
        assert type(out) is Pair
        torch.testing.assert_close(out.first, x)
        torch.testing.assert_close(out.second[0], x * 2)
    finally:
        pytree._deregister_pytree_node(Pair)
