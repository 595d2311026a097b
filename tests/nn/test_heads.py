"""TaskHeads: each sample gets its own task's classifier, padded to the widest label space."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels import TaskHeads, TaskRouter


def test_each_row_uses_its_task_head_and_pads_with_zeros():
    torch.manual_seed(0)
    heads = TaskHeads(6, [2, 5, 3])
    features = torch.randn(7, 6)
    task_ids = torch.tensor([2, 0, 1, 2, 0, 1, 1])
    logits = heads(features, task_ids)
    assert logits.shape == (7, 5)
    for row, task in enumerate(task_ids.tolist()):
        width = heads.num_classes[task]
        torch.testing.assert_close(logits[row, :width], heads.heads[task](features[row]))
        assert torch.count_nonzero(logits[row, width:]) == 0


def test_absent_task_heads_get_exactly_zero_gradient():
    heads = TaskHeads(4, [3, 3, 2])
    heads(torch.randn(4, 4), torch.tensor([0, 2, 2, 0])).sum().backward()
    assert heads.heads[1].weight.grad is not None      # in the graph, as DDP needs
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
