"""peft LoRA adapters trained apart on one base model, served together by one EKS model: a
mixed batch gives what peft gives with ``adapter_names=`` per sample."""

from __future__ import annotations

import pytest
import torch
from torch import nn

# requirements-dev.txt installs peft: a missing or broken one fails here rather than skipping
import peft

from lorkd_kernels import (
    EKSConv2d,
    EKSLinear,
    TaskHeads,
    TaskRouter,
    export_peft_adapters,
    from_peft,
    peft_base_model,
)
from lorkd_kernels.pipeline.models import build_model
from tests.peft_models import mixed_batch, settle_batchnorm, trained_student
from tests.toy_models import rel_error

ADAPTERS = ["path", "derma", "blood"]


def _dense_convs(model: nn.Module) -> list:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]


def _peft_model(arch: str, seed: int = 0) -> nn.Module:
    """Three adapters trained apart: their own ranks and alphas (one rsLoRA), one adapting only
    half the layers, each with its own head (peft's mixed batch needs every adapter to save
    the head once one does)."""
    torch.manual_seed(seed)
    base = settle_batchnorm(build_model(arch, 4), torch.randn(8, 3, 32, 32))
    targets = _dense_convs(base)
    configs = [
        peft.LoraConfig(
            r=4,
            lora_alpha=16,
            target_modules=targets,
            modules_to_save=["fc"],
            init_lora_weights=False,
        ),
        peft.LoraConfig(
            r=2,
            lora_alpha=3,
            target_modules=targets[::2],
            modules_to_save=["fc"],
            init_lora_weights=False,
        ),
        peft.LoraConfig(
            r=8,
            lora_alpha=8,
            use_rslora=True,
            target_modules=targets,
            modules_to_save=["fc"],
            init_lora_weights=False,
        ),
    ]
    model = peft.get_peft_model(base, configs[0], adapter_name=ADAPTERS[0])
    for name, config in zip(ADAPTERS[1:], configs[1:]):
        model.add_adapter(name, config)
    with torch.no_grad():  # trained heads: not the base's copy
        for name, param in model.named_parameters():
            if ".modules_to_save." in name:
                param.normal_(0, 0.1)
    return model.eval()


@pytest.mark.parametrize("arch", ["shufflenet_v2_x0_5", "resnet18"])
def test_one_eks_model_serves_a_mixed_batch_as_peft_does(arch):
    model = _peft_model(arch)
    eks = from_peft(model, ADAPTERS).eval()
    assert isinstance(eks, TaskRouter)
    assert isinstance(eks.model.fc, TaskHeads)
    layers = [m for m in eks.modules() if isinstance(m, (EKSConv2d, EKSLinear))]
    assert len(layers) == len(_dense_convs(build_model(arch, 4)))
    assert {m.rank for m in layers} == {8}  # the largest adapter rank; smaller ones padded
    x, ids = mixed_batch(len(ADAPTERS), batch=7)
    with torch.no_grad():
        expected = model(x, adapter_names=[ADAPTERS[t] for t in ids])
        got = eks(x, ids)
    assert rel_error(got, expected) <= 1e-5
    for task in range(len(ADAPTERS)):  # and every task differs from the others
        assert rel_error(got[ids == task][:1], expected[ids == (task + 1) % 3][:1]) > 1e-3


def test_exported_adapters_come_back_as_the_student(tmp_path):
    student = trained_student(build_model("resnet18", [4, 4, 4]), 3)
    export = export_peft_adapters(student, tmp_path, ADAPTERS)
    model = peft.PeftModel.from_pretrained(
        peft_base_model(student), export.adapters["path"], adapter_name="path"
    )
    for name in ADAPTERS[1:]:
        model.load_adapter(export.adapters[name], adapter_name=name)
    again = from_peft(model.eval(), ADAPTERS).eval()
    x, ids = mixed_batch(3)
    with torch.no_grad():
        assert rel_error(again(x, ids), student(x, ids)) <= 1e-5
    # uniform rank and alpha: the student's own scaling, nothing folded into B
    assert {m.scaling for m in again.modules() if isinstance(m, EKSConv2d)} == {4.0}


def test_what_eks_cannot_hold_is_named():
    torch.manual_seed(0)
    base = build_model("shufflenet_v2_x0_5", 4)
    depthwise, groups = next(
        (n, m.groups) for n, m in base.named_modules() if isinstance(m, nn.Conv2d) and m.groups > 1
    )
    # peft wants a rank divisible by the groups
    model = peft.get_peft_model(base, peft.LoraConfig(r=groups, target_modules=[depthwise]))
    with pytest.raises(ValueError, match=rf"{depthwise}: depthwise conv \(groups=\d+\)"):
        from_peft(model)

    dora = peft.get_peft_model(
        build_model("resnet18", 4), peft.LoraConfig(r=4, target_modules=["conv1"], use_dora=True)
    )
    with pytest.raises(ValueError, match="is a LoRA variant"):
        from_peft(dora)
    saved_conv = peft.get_peft_model(
        build_model("resnet18", 4),
        peft.LoraConfig(r=4, target_modules=["fc"], modules_to_save=["layer1.0.conv1"]),
    )
    with pytest.raises(ValueError, match="layer1.0.conv1: the adapters save this Conv2d whole"):
        from_peft(saved_conv)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="expects a peft.PeftModel, got ResNet"):
        from_peft(build_model("resnet18", 4))
    model = peft.get_peft_model(
        build_model("resnet18", 4), peft.LoraConfig(r=4, target_modules=["fc"])
    )
    with pytest.raises(
        ValueError,
        match=r"adapter_names \['other'\]: expected distinct names "
        r"among the model's adapters \['default'\]",
    ):
        from_peft(model, ["other"])


def test_an_adapter_without_its_own_head_keeps_the_base_head_and_layers_stay_plain():
    torch.manual_seed(0)
    base = settle_batchnorm(build_model("resnet18", 4), torch.randn(8, 3, 32, 32))
    model = peft.get_peft_model(
        base,
        peft.LoraConfig(
            # a string is matched whole: the stem's conv1 only, not every block's
            r=4,
            target_modules="conv1",
            modules_to_save=["fc"],
            init_lora_weights=False,
        ),
        adapter_name="with_head",
    )
    model.add_adapter(
        "without", peft.LoraConfig(r=4, target_modules=["layer1.0.conv1"], init_lora_weights=False)
    )
    with torch.no_grad():
        model.base_model.model.fc.modules_to_save["with_head"].weight.normal_(0, 0.1)
    eks = from_peft(model.eval(), ["with_head", "without"]).eval()
    x = torch.randn(3, 3, 32, 32)
    for task, name in enumerate(["with_head", "without"]):
        model.set_adapter(name)
        with torch.no_grad():
            assert rel_error(eks(x, task), model(x)) <= 1e-5

    # a layer only a left-out adapter adapts stays the plain base layer
    alone = from_peft(model, ["with_head"]).eval()
    assert type(alone.model.layer1[0].conv1) is nn.Conv2d
    model.set_adapter("with_head")
    with torch.no_grad():
        assert rel_error(alone(x, 0), model(x)) <= 1e-5


def test_a_merged_adapter_is_refused_and_imports_once_unmerged():
    model = peft.get_peft_model(
        build_model("resnet18", 4),
        peft.LoraConfig(r=4, target_modules=["layer1.0.conv1"], init_lora_weights=False),
    )
    model.merge_adapter()
    with pytest.raises(
        ValueError,
        match=r"layer1.0.conv1: adapter\(s\) \['default'\] are "
        r"merged into the base weights",
    ):
        from_peft(model)
    model.unmerge_adapter()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model.eval()(x)
        got = from_peft(model).eval()(x, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
