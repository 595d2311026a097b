"""TaskHeads: each sample gets its own task's classifier, padded to the widest label space."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels import TaskHeads, TaskRouter


def test_each_row_uses_its_task_head_and_pads_with_minus_infinity():
    torch.manual_seed(0)
    heads = TaskHeads(6, [2, 5, 3])
    features = torch.randn(7, 6)
    task_ids = torch.tensor([2, 0, 1, 2, 0, 1, 1])
    logits = heads(features, task_ids)
    assert logits.shape == (7, 5)
    for row, task in enumerate(task_ids.tolist()):
        width = heads.num_classes[task]
        torch.testing.assert_close(logits[row, :width], heads.heads[task](features[row]))
        assert torch.all(logits[row, width:] == float("-inf"))


def test_padding_never_passes_for_a_class():
    """Rows whose real logits are all negative: argmax, softmax and cross-entropy stay within
    each row's own classes."""
    torch.manual_seed(0)
    heads = TaskHeads(3, [2, 5])
    with torch.no_grad():
        for head in heads.heads:
            head.bias.fill_(-20.0)
    features = torch.randn(4, 3).requires_grad_()
    task_ids = torch.tensor([0, 1, 0, 1])
    logits = heads(features, task_ids)
    widths = torch.tensor([heads.num_classes[t] for t in task_ids.tolist()])
    assert torch.all(logits.argmax(1) < widths)
    probabilities = torch.softmax(logits, 1)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(4))
    assert torch.all(probabilities[0, 2:] == 0) and torch.all(probabilities[2, 2:] == 0)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 4, 0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(features.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in heads.parameters())


def test_absent_task_heads_get_exactly_zero_gradient():
    heads = TaskHeads(4, [3, 3, 2])
    heads(torch.randn(4, 4), torch.tensor([0, 2, 2, 0])).sum().backward()
    assert heads.heads[1].weight.grad is not None  # in the graph, as DDP needs
    assert torch.count_nonzero(heads.heads[1].weight.grad) == 0
    assert torch.count_nonzero(heads.heads[1].bias.grad) == 0
    assert heads.heads[0].weight.grad.abs().sum() > 0


def test_router_supplies_the_ids():
    heads = TaskHeads(4, [3, 2])
    features, task_ids = torch.randn(5, 4), torch.tensor([1, 0, 1, 1, 0])
    torch.testing.assert_close(TaskRouter(heads)(features, task_ids), heads(features, task_ids))


def test_bad_task_ids_and_class_counts_are_named():
    heads = TaskHeads(4, [3, 2])
    with pytest.raises(IndexError, match=r"\[0, 2\)"):
        heads(torch.randn(2, 4), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="shape"):
        heads(torch.randn(2, 4), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        TaskHeads(4, [])
    with pytest.raises(ValueError, match="num_classes"):
        TaskHeads(4, [3, 0])


def _heads_step(fn, heads, features, task_ids):
    heads.zero_grad(set_to_none=True)
    logits = fn(features, task_ids)
    torch.where(logits.isfinite(), logits, 0).square().sum().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in heads.named_parameters()}


def test_compiled_heads_match_eager_without_graph_break():
    """Under torch.compile(fullgraph=True) the heads take a traced form (no unique/tolist):
    the same logits and padding, and exactly zero gradient for an absent task's head."""
    torch.manual_seed(0)
    heads = TaskHeads(6, [2, 5, 3]).double()
    features = torch.randn(7, 6, dtype=torch.float64)
    task_ids = torch.tensor([2, 0, 2, 0, 0, 2, 2])  # task 1 absent
    compiled = torch.compile(heads, fullgraph=True, backend="aot_eager")
    eager_logits, eager_grads = _heads_step(heads, heads, features, task_ids)
    traced_logits, traced_grads = _heads_step(compiled, heads, features, task_ids)
    torch.testing.assert_close(traced_logits, eager_logits, rtol=1e-12, atol=1e-12)
    for name, grad in eager_grads.items():
        torch.testing.assert_close(traced_grads[name], grad, rtol=1e-12, atol=1e-12)
    assert torch.count_nonzero(traced_grads["heads.1.weight"]) == 0


def test_compiled_heads_give_nan_rows_for_bad_ids():
    """A traced graph cannot range-check the ids on the host; as the ops' contract for
    unchecked ids, a bad id's row is NaN and the other rows are exact."""
    torch.manual_seed(0)
    heads = TaskHeads(4, [2, 3])
    features = torch.randn(4, 4)
    compiled = torch.compile(heads, fullgraph=True, backend="aot_eager")
    logits = compiled(features, torch.tensor([0, 2, 1, -1]))
    assert logits[[1, 3]].isnan().all()
    good = torch.tensor([0, 2])
    torch.testing.assert_close(logits[good], heads(features[good], torch.tensor([0, 1])))
