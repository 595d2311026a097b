"""build_model and multitask_teacher: names, errors, and the pretrained multi-task teacher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lorkd_kernels.pipeline.models import (
    MODELS,
    PretrainedWeightsError,
    ResNet,
    ShuffleNetV2,
    build_model,
    multitask_teacher,
    resnet50,
)
from lorkd_kernels.nn import TaskHeads


def test_build_model_dispatches_by_name():
    assert isinstance(build_model("resnet34", 5), ResNet)
    model = build_model("shufflenet_v2_x1_5", [2, 9])
    assert isinstance(model, ShuffleNetV2) and model.fc.num_classes == [2, 9]


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet101'") as info:
        build_model("resnet101", 10)
    assert all(name in str(info.value) for name in MODELS)


def test_teacher_is_resnet50_with_one_head_per_task():
    teacher = multitask_teacher([4, 2, 7])
    assert isinstance(teacher, ResNet) and teacher.num_features == 2048
    assert isinstance(teacher.fc, TaskHeads) and teacher.fc.num_classes == [4, 2, 7]


def test_teacher_loads_a_notop_backbone_file(tmp_path):
    torch.manual_seed(0)
    backbone = {
        k: v for k, v in build_model("resnet18", 1).state_dict().items() if not k.startswith("fc.")
    }
    path = tmp_path / "notop.pth"
    torch.save(backbone, path)
    teacher = multitask_teacher([3, 3], arch="resnet18", checkpoint=path)
    state = teacher.state_dict()
    assert all(torch.equal(state[k], v) for k, v in backbone.items())


def test_teacher_rejects_a_checkpoint_of_another_architecture():
    with pytest.raises(PretrainedWeightsError, match="missing keys"):
        multitask_teacher(
            [3, 3], arch="resnet50", checkpoint=build_model("resnet18", 1).state_dict()
        )


@pytest.mark.parametrize("num_classes", [10, "abc", None], ids=str)
def test_teacher_needs_one_class_count_per_task(num_classes):
    with pytest.raises(TypeError, match="one class count per task"):
        multitask_teacher(num_classes)


def test_teacher_rejects_unknown_arch():
    with pytest.raises(ValueError, match="unknown model 'vit'"):
        multitask_teacher([2], arch="vit")


def test_registered_builders_make_plain_modules():
    # EKS conversion works on these types; a model full of them must stay convertible
    model = resnet50(3)
    assert type(model.fc) is nn.Linear and type(model.conv1) is nn.Conv2d
