"""convert / decompose / switch_task on a torchvision-shaped CNN."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lorkd_kernels import (
    EKSConv2d,
    EKSLinear,
    TaskHeads,
    TaskRouter,
    convert,
    decompose,
    switch_task,
)
from tests.toy_models import ToyNet, randomize_experts, rel_error

NUM_CLASSES = [3, 5, 2]


def converted(seed: int = 0, **kwargs) -> TaskRouter:
    torch.manual_seed(seed)
    student = convert(ToyNet(NUM_CLASSES), num_tasks=len(NUM_CLASSES), rank=2, alpha=4, **kwargs)
    randomize_experts(student, seed)
    return student.eval()


def kinds(model: nn.Module) -> dict:
    return {name: type(m) for name, m in model.named_modules()}


def test_fresh_conversion_computes_what_the_model_did():
    torch.manual_seed(1)
    model = ToyNet(NUM_CLASSES).eval()
    x, task_ids = torch.randn(6, 3, 9, 11), torch.tensor([2, 0, 1, 1, 0, 2])
    expected = TaskRouter(model)(x, task_ids)
    student = convert(copy.deepcopy(model), num_tasks=3)
    torch.testing.assert_close(student(x, task_ids), expected, rtol=1e-5, atol=1e-6)


def test_every_conv_and_linear_but_the_heads_is_converted_by_default():
    layers = kinds(converted().model)
    assert layers["stem.0"] is EKSConv2d and layers["block.0"] is EKSConv2d  # incl. depthwise
    assert layers["block.2"] is EKSConv2d and layers["hidden"] is EKSLinear
    assert layers["fc"] is TaskHeads and layers["fc.heads.0"] is nn.Linear


def test_dense_only_reproduces_the_papers_choice():
    layers = kinds(converted(experts_on="dense").model)
    assert layers["block.0"] is nn.Conv2d and layers["block.2"] is nn.Conv2d  # groups 8, 2
    assert layers["stem.0"] is EKSConv2d and layers["block.4"] is EKSConv2d


def test_include_selects_layer_kinds_or_names():
    assert kinds(converted(include="conv").model)["hidden"] is nn.Linear
    only_stem = converted(include=lambda name, module: name.startswith("stem")).model
    assert kinds(only_stem)["stem.0"] is EKSConv2d
    assert kinds(only_stem)["block.4"] is nn.Conv2d


@pytest.mark.parametrize("seed", [0, 1])
def test_each_sample_matches_its_decomposed_expert(seed):
    student = converted(seed)
    x = torch.randn(7, 3, 10, 9)
    task_ids = torch.tensor([1, 2, 0, 1, 1, 2, 0])
    logits = student(x, task_ids)
    for task, width in enumerate(NUM_CLASSES):
        rows = task_ids == task
        expert = decompose(student, task)
        assert rel_error(logits[rows, :width], expert(x[rows])) <= 1e-5


def test_decomposed_expert_is_plain_and_loads_into_the_original_architecture():
    student = converted()
    expert = decompose(student, 1)
    assert not any(
        isinstance(m, (EKSConv2d, EKSLinear, TaskHeads, TaskRouter)) for m in expert.modules()
    )
    plain = ToyNet(NUM_CLASSES[1])
    plain.load_state_dict(expert.state_dict(), strict=True)
    x = torch.randn(3, 3, 8, 8)
    torch.testing.assert_close(plain.eval()(x), expert(x))


def test_decompose_leaves_the_student_untouched_and_shares_nothing():
    student = converted()
    before = copy.deepcopy(student.state_dict())
    expert = decompose(student, 0)
    with torch.no_grad():
        for p in expert.parameters():
            p.add_(1.0)
    for key, value in student.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_decompose_keeps_train_or_eval_mode():
    student = converted().train()
    assert decompose(student, 0).training
    assert not decompose(student.eval(), 0).training


def test_switch_task_moves_a_merged_model_in_place():
    student = converted()
    merged = decompose(student, 0)
    returned = switch_task(merged, student, from_task=0, to_task=2)
    assert returned is merged
    expected = decompose(student, 2)
    x = torch.randn(4, 3, 8, 8)
    assert rel_error(merged(x), expected(x)) <= 1e-5


def test_conversion_routes_gradients_only_to_present_experts():
    student = converted().train()
    x, task_ids = torch.randn(4, 3, 8, 8), torch.tensor([2, 0, 2, 0])
    logits = student(x, task_ids)
    logits.square().sum().backward()
    conv = student.model.stem[0]
    assert torch.count_nonzero(conv.lora_A.grad[1]) == 0
    assert torch.count_nonzero(conv.lora_B.grad[1]) == 0
    assert torch.count_nonzero(conv.lora_B.grad[0]) > 0
    assert torch.count_nonzero(conv.weight.grad) > 0


def test_a_router_converts_again_only_with_the_same_task_count():
    student = converted()
    assert convert(student, num_tasks=3) is student
    with pytest.raises(ValueError, match="already has 3 tasks"):
        convert(student, num_tasks=4)
    with pytest.raises(ValueError, match="already has 3 tasks"):
        convert(ToyNet(NUM_CLASSES), num_tasks=2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda s: decompose(s, 3), IndexError, r"\[0, 3\)"),
        (lambda s: decompose(s, -1), IndexError, r"\[0, 3\)"),
        (lambda s: decompose(ToyNet(4), 0), ValueError, "convert it first"),
        (lambda s: switch_task(nn.Sequential(), s, 0, 1), ValueError, "not decomposed"),
        (lambda s: convert(ToyNet(4), 2, include="attention"), ValueError, "include"),
        (lambda s: convert(ToyNet(4), 2, experts_on="sparse"), ValueError, "experts_on"),
        (lambda s: convert(nn.Sequential(nn.ReLU()), 2), ValueError, "nothing to convert"),
        (
            lambda s: convert(ToyNet(NUM_CLASSES), 3, include=lambda name, m: False),
            ValueError,
            "nothing to convert",
        ),
        (
            lambda s: convert(nn.Conv2d(4, 4, 3, groups=4), 2, experts_on="dense"),
            ValueError,
            "experts_on='dense'",
        ),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(converted())


def _two_convs():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))


def test_convert_keeps_frozen_weights_frozen_and_the_experts_trainable():
    model = _two_convs()
    model[0].weight.requires_grad_(False)
    model[0].bias.requires_grad_(False)
    student = convert(model, 2)
    first, second = student.model[0], student.model[2]
    assert not first.weight.requires_grad and not first.bias.requires_grad
    assert second.weight.requires_grad and second.bias.requires_grad
    assert first.lora_A.requires_grad and first.lora_B.requires_grad


def test_convert_refuses_modules_whose_hooks_it_would_drop_and_changes_nothing():
    model = _two_convs()
    model[2].register_forward_hook(lambda module, args, out: out * 2)
    with pytest.raises(ValueError, match=r"drop the hooks of \['2'\]"):
        convert(model, 2)
    assert type(model[0]) is nn.Conv2d and type(model[2]) is nn.Conv2d


def test_convert_refuses_lazy_modules_before_their_first_forward():
    model = nn.Sequential(nn.LazyConv2d(4, 3), nn.Conv2d(4, 4, 1))
    with pytest.raises(ValueError, match=r"lazy modules not yet materialised: \['0'\]"):
        convert(model, 2)
    model(torch.randn(1, 3, 8, 8))  # materialised: a plain Conv2d now
    student = convert(model, 2)
    assert all(isinstance(m, EKSConv2d) for m in (student.model[0], student.model[1]))


def test_convert_warns_about_parametrized_convs_it_leaves_without_experts():
    model = _two_convs()
    torch.nn.utils.parametrizations.weight_norm(model[2])
    with pytest.warns(UserWarning, match=r"leaves \['2'\] without experts"):
        student = convert(model, 2)
    assert isinstance(student.model[0], EKSConv2d) and not isinstance(student.model[2], EKSConv2d)
