"""Multi-task models route each sample to its task's head, with ids given or set by TaskRouter."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.pipeline.models import build_model
from lorkd_kernels.routing import TaskRouter, task_ids_context

NUM_CLASSES = [3, 5, 2]


@pytest.fixture(scope="module", params=["resnet18", "shufflenet_v2_x0_5"])
def model(request):
    torch.manual_seed(0)
    return build_model(request.param, NUM_CLASSES).eval()


def _expected(model, x, task_ids):
    """Row n: head task_ids[n] applied to sample n's features, padded to 5 columns with -inf."""
    features = model.forward_features(x)
    want = torch.full((x.shape[0], max(NUM_CLASSES)), float("-inf"))
    for n, task in enumerate(task_ids.tolist()):
        want[n, : NUM_CLASSES[task]] = model.fc.heads[task](features[n])
    return want


@torch.no_grad()
def test_each_sample_gets_its_task_head(model):
    torch.manual_seed(1)
    x = torch.randn(4, 3, 32, 32)
    task_ids = torch.tensor([2, 0, 1, 2])
    logits = model(x, task_ids)
    torch.testing.assert_close(logits, _expected(model, x, task_ids))
    assert torch.all(logits[0, 2:] == float("-inf")) and torch.all(logits[1, 3:] == float("-inf"))
    assert torch.isfinite(logits[2, :5]).all()


@torch.no_grad()
def test_one_int_selects_the_task_for_the_whole_batch(model):
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x, 1), model(x, torch.tensor([1, 1])))
    torch.testing.assert_close(model(x, 1)[:, :5], model.fc.heads[1](model.forward_features(x)))


@torch.no_grad()
def test_task_router_supplies_ids_and_restores_unsorted_order(model):
    torch.manual_seed(2)
    x = torch.randn(4, 3, 32, 32)
    task_ids = torch.tensor([1, 0, 2, 0])  # unsorted: the router permutes
    routed = TaskRouter(model)(x, task_ids)
    torch.testing.assert_close(routed, _expected(model, x, task_ids))
    torch.testing.assert_close(routed, model(x, task_ids))


@torch.no_grad()
def test_ids_from_an_enclosing_context_are_used(model):
    x = torch.randn(2, 3, 32, 32)
    task_ids = torch.tensor([0, 2])
    with task_ids_context(task_ids):
        got = model(x)
    torch.testing.assert_close(got, _expected(model, x, task_ids))


def test_missing_task_ids_are_named(model):
    with pytest.raises(ValueError, match="task_ids is required"):
        model(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    "task_ids, error, message",
    [
        (torch.tensor([0, 1, 2]), ValueError, r"shape \(2,\)"),
        (torch.tensor([0, 1], dtype=torch.int32), TypeError, "int64"),
        ([0, 1], TypeError, "int64 tensor"),
        (torch.tensor([0, 3]), IndexError, r"\[0, 3\)"),
    ],
    ids=["length", "dtype", "list", "range"],
)
def test_bad_task_ids_are_rejected(model, task_ids, error, message):
    with pytest.raises(error, match=message):
        model(torch.randn(2, 3, 32, 32), task_ids)


@torch.no_grad()
def test_single_task_model_ignores_task_ids():
    torch.manual_seed(0)
    model = build_model("resnet18", 6).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x, torch.tensor([1, 0])), model(x))


def test_dense_experts_of_shufflenet_v2_x1_0_are_on_every_groups_1_conv():
    """The released code's placement (--experts-on dense, the official preset's): the stem, every
    pointwise conv of the units and the final 1x1 conv; never a depthwise conv or a head."""
    from lorkd_kernels import EKSConv2d, EKSLinear, convert

    model = build_model("shufflenet_v2_x1_0", NUM_CLASSES)
    converted = {
        name
        for name, m in convert(model, len(NUM_CLASSES), experts_on="dense").model.named_modules()
        if isinstance(m, (EKSConv2d, EKSLinear))
    }
    expected = {"conv1.0", "conv5.0"}
    for stage, units in (("stage2", 4), ("stage3", 8), ("stage4", 4)):
        expected |= {f"{stage}.0.branch1.2"}  # the stride-2 unit's shortcut
        expected |= {f"{stage}.{u}.branch2.{i}" for u in range(units) for i in (0, 5)}
    assert converted == expected
    depthwise = {
        name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1
    }
    assert len(depthwise) == 3 + 16 and not depthwise & converted
    assert not any(name.startswith("fc") for name in converted)
