"""Experts exported as peft LoRA adapters load into the real peft and compute the decomposed
expert; what LoRA cannot hold is named, never dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

# requirements-dev.txt installs peft: a missing or broken one fails here rather than skipping
import peft
from packaging.specifiers import SpecifierSet  # peft depends on packaging
from packaging.version import Version

from lorkd_kernels import (
    EKSConv2d,
    TaskHeads,
    WeightsFileError,
    decompose,
    export_peft_adapters,
    load_peft_base,
    peft_base_model,
)
from lorkd_kernels.deploy._peft_layout import TESTED_PEFT
from lorkd_kernels.pipeline.models import build_model
from tests.peft_models import differs, names, trained_student
from tests.toy_models import ToyNet, rel_error

ROOT = Path(__file__).resolve().parents[2]
CLASSES = [3, 5, 4]


def _peft_output(base: nn.Module, folder: Path, name: str, x: torch.Tensor) -> torch.Tensor:
    model = peft.PeftModel.from_pretrained(base, folder, adapter_name=name).eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize(
    "arch, unsupported", [("shufflenet_v2_x0_5", "full"), ("resnet18", "error")]
)
def test_real_peft_loads_each_adapter_and_computes_the_decomposed_expert(
    arch, unsupported, tmp_path
):
    # float64: the mapping is exact, so only float64 rounding may separate the two
    student = trained_student(build_model(arch, CLASSES).double(), len(CLASSES))
    export = export_peft_adapters(student, tmp_path, names(3), unsupported=unsupported)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base_model.safetensors", *names(3)]
    # ShuffleNetV2's depthwise convs travel whole, ResNet-18 has none
    assert bool(export.full_modules) == (arch == "shufflenet_v2_x0_5")
    assert export.head_modules == ["fc"]
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    for task, name in enumerate(names(3)):
        with torch.no_grad():
            expected = decompose(student, task).eval()(x)
            without_adapter = peft_base_model(student, task).eval()(x)
        assert differs(without_adapter, expected)  # the adapter carries the expert
        got = _peft_output(peft_base_model(student, task).eval(), export.adapters[name], name, x)
        assert rel_error(got, expected) <= 1e-10
        # the same from files only: the architecture, the shared weights, the adapter
        plain = load_peft_base(build_model(arch, CLASSES[task]).double(), tmp_path).eval()
        assert rel_error(_peft_output(plain, export.adapters[name], name, x), expected) <= 1e-10


def _dense_student():
    torch.manual_seed(0)
    base = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 6),
        nn.ReLU(),
        TaskHeads(6, CLASSES),
    )
    return trained_student(base, len(CLASSES), image_size=8)


def test_layers_with_their_own_rank_and_scaling_map_exactly(tmp_path):
    student = _dense_student()
    inner = student.model
    odd = EKSConv2d.from_conv(nn.Conv2d(8, 8, 1), len(CLASSES), rank=3, alpha=5)
    with torch.no_grad():
        odd.lora_B.normal_(0, 0.1)
    inner[2] = odd
    export = export_peft_adapters(student, tmp_path)
    config = json.loads((export.adapters["task0"] / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (4, 16)
    assert config["rank_pattern"] == {"^2": 3} and config["alpha_pattern"] == {"^2": 5}
    x = torch.randn(5, 3, 8, 8)
    for task in range(len(CLASSES)):
        name = f"task{task}"
        model = peft.PeftModel.from_pretrained(
            peft_base_model(student, task).eval(), export.adapters[name], adapter_name=name
        ).eval()
        layer = model.base_model.model[2]
        assert (layer.r[name], layer.scaling[name]) == (3, odd.scaling)
        with torch.no_grad():
            assert rel_error(model(x), decompose(student, task).eval()(x)) <= 1e-5


def test_layers_lora_cannot_hold_are_named_and_can_travel_whole(tmp_path):
    student = trained_student(ToyNet(CLASSES), len(CLASSES), image_size=12)
    with pytest.raises(ValueError) as err:
        export_peft_adapters(student, tmp_path / "refused")
    message = str(err.value)
    for part in (
        "cannot hold the experts of 3 layers",
        "block.0: depthwise conv (groups=8)",
        "block.2: grouped conv (groups=2)",
        "block.4: padding_mode='reflect'",
        "unsupported='full'",
        "experts_on='dense'",
    ):
        assert part in message
    assert not (tmp_path / "refused").exists()  # nothing half-written

    export = export_peft_adapters(student, tmp_path, unsupported="full")
    assert sorted(export.full_modules) == ["block.0", "block.2", "block.4"]
    assert export.lora_modules == ["stem.0", "hidden"]
    x = torch.randn(3, 3, 12, 12)
    for task in range(len(CLASSES)):
        got = _peft_output(
            peft_base_model(student, task).eval(), export.adapters[f"task{task}"], f"task{task}", x
        )
        with torch.no_grad():
            assert rel_error(got, decompose(student, task).eval()(x)) <= 1e-5


@pytest.mark.parametrize(
    "task_names, match",
    [
        (["a", "b"], "lists 2 names for a model with 3 tasks"),
        (["a", "b", "a"], "must be distinct"),
        (["a", "b.c", "d"], "only letters, digits"),
    ],
)
def test_task_names_are_checked(task_names, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        export_peft_adapters(_dense_student(), tmp_path, task_names)


def test_a_model_without_experts_is_refused(tmp_path):
    with pytest.raises(ValueError, match="convert it first"):
        export_peft_adapters(build_model("resnet18", 3), tmp_path)
    with pytest.raises(ValueError, match="unsupported must be one of"):
        export_peft_adapters(_dense_student(), tmp_path, unsupported="drop")


def test_the_shared_weights_of_another_architecture_are_one_line(tmp_path):
    export_peft_adapters(_dense_student(), tmp_path)
    with pytest.raises(WeightsFileError) as err:
        load_peft_base(build_model("resnet18", 3), tmp_path)
    message = str(err.value)
    assert "\n" not in message and "base_model.safetensors does not fit ResNet" in message


def test_the_installed_peft_is_in_the_tested_range_pinned_by_the_extra():
    # (a regex, not tomllib: Python 3.10 has none)
    extra = re.search(r"^peft = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert extra and f'"peft{TESTED_PEFT}"' in extra.group(1)
    assert Version(peft.__version__) in SpecifierSet(TESTED_PEFT)
    assert re.search(
        r"^peft" + re.escape(TESTED_PEFT) + r"\s*$",
        (ROOT / "requirements-dev.txt").read_text(),
        re.M,
    )
