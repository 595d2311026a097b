"""Our models and torchvision's: same module tree, strict state-dict loading, equal outputs.

Runs only where torchvision imports (it must match the installed torch).
"""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels.pipeline.models import build_model
from tests import requirements

try:
    import torchvision
except Exception:  # a torchvision built for another torch fails with more than ImportError
    torchvision = None

if torchvision is None:
    requirements.unavailable("torchvision", "torchvision is not importable with this torch")

NAMES = ["resnet18", "resnet50", "shufflenet_v2_x1_0"]


def _torchvision_model(name, num_classes):
    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes)


@pytest.mark.parametrize("name", NAMES)
def test_module_tree_matches(name):
    ours, theirs = build_model(name, 10), _torchvision_model(name, 10)
    assert [(n, type(m).__name__) for n, m in ours.named_modules()] == [
        (n, type(m).__name__) for n, m in theirs.named_modules()
    ]


@pytest.mark.parametrize("name", NAMES)
def test_state_dicts_load_strictly_both_ways_with_equal_outputs(name):
    torch.manual_seed(0)
    ours = build_model(name, 10)
    theirs = _torchvision_model(name, 10)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs.eval()(x), rtol=0, atol=0)
    torch.manual_seed(1)
    back = build_model(name, 10)
    back.load_state_dict(theirs.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(x), theirs(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_torchvision_default_init(name):
    torch.manual_seed(7)
    ours = build_model(name, 10).state_dict()
    torch.manual_seed(7)
    theirs = _torchvision_model(name, 10).state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x1_0"])
def test_decomposed_expert_loads_into_the_torchvision_class(name):
    from lorkd_kernels import convert, decompose

    torch.manual_seed(0)
    student = convert(build_model(name, [3, 7]), num_tasks=2, rank=4, alpha=16)
    with torch.no_grad():
        for param_name, param in student.named_parameters():
            if param_name.endswith("lora_B"):
                param.normal_(0, 0.05)
    student.eval()
    expert = decompose(student, 1)
    theirs = _torchvision_model(name, 7).eval()
    theirs.load_state_dict(expert.state_dict(), strict=True)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), student(x, 1)[:, :7], rtol=1e-5, atol=1e-5)
