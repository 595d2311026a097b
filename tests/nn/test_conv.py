"""EKSConv2d: nn.Conv2d compatibility, padding modes, memory layouts, wrapping and merging."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from lorkd_kernels import EKSConv2d, reference
from tests.eks_cases import TOLERANCE, rel_error

CONFIGS = [
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=1, padding_mode="circular", stride=2),
    dict(kernel_size=5, padding=2, padding_mode="replicate", dilation=1),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=4, padding="same", dilation=2),  # asymmetric 'same'
    dict(kernel_size=(2, 3), padding="same", padding_mode="reflect"),
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=3, padding=(2, 1), stride=(2, 1), dilation=(1, 2)),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=1, groups=6, bias=False),  # depthwise
]


def _layer(config, num_tasks=4, rank=3, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    out_channels = 6 if config.get("groups", 1) == 6 else 8
    layer = EKSConv2d(
        6, out_channels, num_tasks=num_tasks, rank=rank, alpha=6.0, dtype=dtype, **config
    )
    nn.init.normal_(layer.lora_B, std=0.3)
    return layer


def _per_sample_reference(layer, x, task_ids):
    """nn.Conv2d's own padding logic with each sample's merged weight (differentiable)."""
    outs = []
    for n, task in enumerate(task_ids.tolist()):
        w = reference.merged_weight(
            layer.weight, layer.lora_A, layer.lora_B, layer.scaling, task
        ).to(layer.weight.dtype)
        outs.append(nn.Conv2d._conv_forward(layer, x[n : n + 1], w, layer.bias))
    return torch.cat(outs)


def test_parameters_follow_the_contract():
    layer = EKSConv2d(6, 8, 3, groups=2, num_tasks=5, rank=4)
    names = dict(layer.named_parameters())
    assert set(names) == {"weight", "bias", "lora_A", "lora_B"}
    assert names["weight"].shape == (8, 3, 3, 3)
    assert names["lora_A"].shape == (5, 4, 3 * 3 * 3)
    assert names["lora_B"].shape == (5, 8, 4)
    assert torch.count_nonzero(layer.lora_B) == 0 and torch.count_nonzero(layer.lora_A) > 0
    assert layer.scaling == 1.0
    assert EKSConv2d(6, 8, 3, num_tasks=2, rank=4, alpha=16).scaling == 4.0
    assert isinstance(layer, nn.Conv2d)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_layer_matches_reference_forward_and_grads(config):
    layer = _layer(config)
    x = torch.randn(5, 6, 9, 7, dtype=torch.float64, requires_grad=True)
    task_ids = torch.tensor([3, 0, 3, 2, 0])  # task 1 absent
    grad = None
    results = []
    for fn in (layer, lambda x_, t_: _per_sample_reference(layer, x_, t_)):
        layer.zero_grad()
        x.grad = None
        y = fn(x, task_ids)
        if grad is None:
            grad = torch.randn_like(y)
        y.backward(grad)
        results.append([y.detach(), x.grad.clone()] + [p.grad.clone() for p in layer.parameters()])
    for got, want in zip(*results):
        assert rel_error(got, want) <= TOLERANCE[torch.float64]
    assert torch.count_nonzero(layer.lora_A.grad[1]) == 0
    assert torch.count_nonzero(layer.lora_B.grad[1]) == 0


@pytest.mark.parametrize("config", CONFIGS[:5], ids=lambda c: str(c.get("padding_mode", "zeros")))
def test_from_conv_starts_identical(config):
    conv = nn.Conv2d(6, 8, **config)
    layer = EKSConv2d.from_conv(conv, num_tasks=3, rank=2, alpha=8)
    x = torch.randn(4, 6, 8, 9)
    torch.testing.assert_close(layer(x, torch.tensor([0, 1, 2, 1])), conv(x), rtol=1e-5, atol=1e-6)
    assert layer.padding_mode == conv.padding_mode and layer.scaling == 4.0


@pytest.mark.parametrize(
    "config", [CONFIGS[0], CONFIGS[4], CONFIGS[9]], ids=["reflect", "same4", "depthwise"]
)
def test_to_conv_merges_the_expert(config):
    layer = _layer(config, dtype=torch.float32)
    x = torch.randn(3, 6, 9, 7)
    for task in range(layer.num_tasks):
        plain = layer.to_conv(task)
        assert type(plain) is nn.Conv2d
        want = layer(x, torch.full((3,), task, dtype=torch.int64))
        assert rel_error(plain(x), want) <= 1e-5
    with pytest.raises(IndexError, match="task must be an integer in"):
        layer.to_conv(layer.num_tasks)


def test_channels_last_and_non_contiguous_inputs():
    layer = _layer(CONFIGS[0], dtype=torch.float32)
    x = torch.randn(4, 6, 9, 7)
    task_ids = torch.tensor([1, 0, 3, 1])
    want = layer(x, task_ids)
    channels_last = x.to(memory_format=torch.channels_last)
    assert not channels_last.is_contiguous()
    torch.testing.assert_close(layer(channels_last, task_ids), want)
    strided = torch.randn(4, 6, 9, 14)[..., ::2]
    torch.testing.assert_close(layer(strided, task_ids), layer(strided.contiguous(), task_ids))
    permuted = x.transpose(2, 3).contiguous().transpose(2, 3)
    torch.testing.assert_close(layer(permuted, task_ids), want)


def _layout(t: torch.Tensor) -> str:
    if t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return "channels_last"
    return "contiguous" if t.is_contiguous() else "other"


@pytest.mark.parametrize(
    "input_format, weight_format",
    [
        (torch.channels_last, torch.contiguous_format),
        (torch.contiguous_format, torch.channels_last),
        (torch.contiguous_format, torch.contiguous_format),
    ],
    ids=["x-channels-last", "weight-channels-last", "both-contiguous"],
)
@pytest.mark.parametrize("config", [CONFIGS[3], CONFIGS[0]], ids=["zeros", "reflect"])
def test_output_memory_format_matches_conv2d(config, input_format, weight_format):
    layer = _layer(config, dtype=torch.float32).to(memory_format=weight_format)
    plain = nn.Conv2d(6, 8, **config).to(memory_format=weight_format)
    x = torch.randn(2, 6, 5, 4).to(memory_format=input_format)
    y = layer(x, torch.tensor([1, 0]))
    assert _layout(y) == _layout(plain(x)) and y.stride() == plain(x).stride()


def test_task_ids_forms_and_errors():
    layer = _layer(CONFIGS[3], dtype=torch.float32)
    x = torch.randn(3, 6, 5, 5)
    torch.testing.assert_close(layer(x, 2), layer(x, torch.tensor([2, 2, 2])))
    with pytest.raises(ValueError, match="task_ids is required"):
        layer(x)
    with pytest.raises(IndexError, match="task_ids contains 4"):
        layer(x, torch.tensor([0, 4, 1]))
    with pytest.raises(TypeError, match="task_ids must be"):
        layer(x, [0, 1, 2])
    with pytest.raises(ValueError, match="EKSConv2d expects x of shape"):
        layer(x[0], 0)


def test_half_precision_layer():
    layer = _layer(CONFIGS[0], dtype=torch.float32)
    x = torch.randn(4, 6, 9, 7)
    task_ids = torch.tensor([1, 0, 3, 1])
    want = layer(x, task_ids)
    got = copy.deepcopy(layer).to(torch.bfloat16)(x.bfloat16(), task_ids)
    assert got.dtype == torch.bfloat16
    assert rel_error(got, want) <= TOLERANCE[torch.bfloat16]


@pytest.mark.parametrize(
    "layer",
    [
        lambda **kw: EKSConv2d(4, 4, 3, **kw),
        lambda **kw: __import__("lorkd_kernels").EKSLinear(4, 4, **kw),
    ],
    ids=["conv", "linear"],
)
@pytest.mark.parametrize(
    "settings, message",
    [
        ({"num_tasks": True}, "num_tasks must be a positive integer, got True"),
        ({"num_tasks": 2, "rank": True}, "rank must be a positive integer, got True"),
        ({"num_tasks": 2.0}, "num_tasks must be a positive integer, got 2.0"),
        ({"num_tasks": 2, "alpha": float("nan")}, "alpha must be a finite number"),
        ({"num_tasks": 2, "alpha": float("inf")}, "alpha must be a finite number"),
        ({"num_tasks": 2, "alpha": "16"}, "alpha must be a finite number.*'16'"),
        ({"num_tasks": 2, "alpha": True}, "alpha must be a finite number"),
    ],
)
def test_layer_settings_of_the_wrong_kind_are_refused_by_name(layer, settings, message):
    with pytest.raises(ValueError, match=message):
        layer(**settings)


def test_alpha_may_be_any_real_number_type():
    np = pytest.importorskip("numpy")
    layer = EKSConv2d(4, 4, 3, num_tasks=2, rank=2, alpha=np.float32(4))
    assert layer.scaling == 2.0 and isinstance(layer.scaling, float)
