"""ResNet and ShuffleNetV2: torchvision's sizes and layout, output shapes, init, bad input."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from torch import nn

from lorkd_kernels.pipeline.models import MODELS, Bottleneck, build_model, resnet18, resnet50
from lorkd_kernels.nn import TaskHeads

# torchvision's parameter totals for 1000 classes (its model documentation lists them)
TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "shufflenet_v2_x0_5": 1_366_792,
    "shufflenet_v2_x1_0": 2_278_604,
    "shufflenet_v2_x1_5": 3_503_624,
    "shufflenet_v2_x2_0": 7_393_996,
}

# sha256 (first 16 hex digits) of the lines "<key> <shape>" of torchvision 0.29.1's state dict
# for 1000 classes, in order: pins names, order and shapes without needing torchvision here
TORCHVISION_LAYOUT = {
    "resnet18": (122, "84fb10d9c6905a1c"),
    "resnet34": (218, "28f9096d51307499"),
    "resnet50": (320, "d7e4f8bb0a536344"),
    "shufflenet_v2_x0_5": (338, "f0a5936e646f1bd4"),
    "shufflenet_v2_x1_0": (338, "81b349bc1cbbbc7a"),
    "shufflenet_v2_x1_5": (338, "506b4de341bf52b3"),
    "shufflenet_v2_x2_0": (338, "0c033bd0cd72af37"),
}

NUM_FEATURES = {
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "shufflenet_v2_x0_5": 1024,
    "shufflenet_v2_x1_0": 1024,
    "shufflenet_v2_x1_5": 1024,
    "shufflenet_v2_x2_0": 2048,
}


def _layout(model: nn.Module) -> tuple:
    state = model.state_dict()
    text = "\n".join(f"{k} {tuple(v.shape)}" for k, v in state.items())
    return len(state), hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.fixture(scope="module", params=sorted(MODELS))
def imagenet_model(request):
    torch.manual_seed(0)
    return request.param, build_model(request.param, 1000).eval()


def test_registry_lists_every_architecture():
    assert set(MODELS) == set(TORCHVISION_PARAMS)


def test_parameter_count_matches_torchvision(imagenet_model):
    name, model = imagenet_model
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]


def test_state_dict_layout_matches_torchvision(imagenet_model):
    name, model = imagenet_model
    assert _layout(model) == TORCHVISION_LAYOUT[name]


def test_single_task_shapes_on_small_images(imagenet_model):
    name, model = imagenet_model
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
    assert model.num_features == NUM_FEATURES[name]
    assert features.shape == (2, NUM_FEATURES[name])
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits, model.fc(features))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_multi_task_shapes_and_heads(name):
    model = build_model(name, [3, 7]).eval()
    assert isinstance(model.fc, TaskHeads)
    assert [h.out_features for h in model.fc.heads] == [3, 7]
    assert all(h.in_features == model.num_features for h in model.fc.heads)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    assert logits.shape == (2, 7)


def test_only_plain_torch_layers_carry_parameters():
    # EKS conversion swaps exactly these module types, so nothing else may hold weights
    allowed = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
    for model in (resnet50(), build_model("shufflenet_v2_x0_5", [2, 2])):
        for name, module in model.named_modules():
            if any(True for _ in module.parameters(recurse=False)):
                assert type(module) in allowed, name


def test_bottleneck_strides_its_3x3_conv():
    block = resnet50().layer2[0]
    assert isinstance(block, Bottleneck)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.conv3.stride == (1, 1) and block.downsample[0].stride == (2, 2)


def test_resnet_init_is_kaiming_fan_out_and_unit_batchnorm():
    torch.manual_seed(0)
    model = resnet18()
    conv = model.layer4[0].conv2  # 512·512·9 samples: a tight std estimate
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / fan_out), rel=0.01)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))


def test_same_seed_builds_the_same_weights():
    torch.manual_seed(3)
    first = resnet18(10).state_dict()
    torch.manual_seed(3)
    second = resnet18(10).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("shape", [(2, 1, 32, 32), (3, 32, 32), (2, 3, 32)], ids=str)
def test_bad_image_shape_is_named(shape):
    model = resnet18(4)
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 3, H, W\)"):
        model(torch.randn(*shape))
    with pytest.raises(ValueError, match=r"expected images"):
        build_model("shufflenet_v2_x0_5", 4).forward_features(torch.randn(*shape))


@pytest.mark.parametrize(
    "num_classes, error, message",
    [
        (0, ValueError, "positive integer"),
        (True, TypeError, "bool"),
        ("10", TypeError, "int or a sequence of ints"),
        (2.5, TypeError, "int or a sequence of ints"),
        ([], ValueError, "at least one positive class count"),
        ([3, 0], ValueError, "at least one positive class count"),
    ],
    ids=str,
)
def test_bad_num_classes_is_rejected(num_classes, error, message):
    with pytest.raises(error, match=message):
        resnet18(num_classes)
