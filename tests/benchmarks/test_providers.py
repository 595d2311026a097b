"""Every layer-benchmark provider computes the EKS layer's function and gradients, so the suites
compare equal work."""

from __future__ import annotations

import pytest
import torch

from benchmarks.layer_bench import make_inputs, make_layer
from benchmarks.providers import available_providers, conv_provider, linear_provider
from benchmarks.scopes import LayerCase
from benchmarks.shapes import LayerShape
from lorkd_kernels import reference

CPU = torch.device("cpu")
SHAPES = [
    LayerShape("conv", 6, 10, (3, 3), (2, 2), (1, 1), bias=True, height=7, width=5),
    LayerShape("conv", 8, 8, (3, 3), (1, 1), (1, 1), groups=8, height=5, width=5),
    LayerShape("conv", 6, 4, (1, 1), height=3, width=3),
    LayerShape("linear", 12, 5, bias=True),
]
MIXES = [("uniform", 3), ("skewed", 3), ("single", 3), ("per_sample", 6)]


def _reference(layer, x, ids):
    if x.dim() == 4:
        return reference.eks_conv2d_per_sample(
            x,
            layer.weight,
            layer.bias,
            layer.lora_A,
            layer.lora_B,
            ids,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            layer.scaling,
        )
    return reference.eks_linear_per_sample(
        x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, ids, layer.scaling
    )


def _grads(fn, params, x, ids, grad_out):
    x = x.detach().requires_grad_(True)
    for p in params:
        p.grad = None
    y = fn(x, ids)
    y.backward(grad_out)
    return y.detach(), [x.grad] + [p.grad for p in params]


@pytest.mark.parametrize("mix,num_tasks", MIXES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
@pytest.mark.parametrize("provider", [p for p in available_providers(CPU) if p != "plain"])
def test_provider_matches_reference(provider, shape, mix, num_tasks):
    case = LayerCase(
        shape, image_size=0, batch=6, rank=2, mix=mix, pass_="fwd+bwd", num_tasks=num_tasks
    )
    layer = make_layer(case, CPU)
    x, ids = make_inputs(case, CPU)
    make = conv_provider if shape.kind == "conv" else linear_provider
    fn, params = make(provider, layer)
    ref_params = list(layer.parameters())
    grad_out = torch.randn_like(_reference(layer, x, ids))
    y, grads = _grads(fn, params, x, ids, grad_out)
    y_ref, grads_ref = _grads(lambda x, t: _reference(layer, x, t), ref_params, x, ids, grad_out)
    torch.testing.assert_close(y, y_ref, atol=1e-4, rtol=1e-4)
    assert [p is q for p, q in zip(params, ref_params)] == [True] * len(params)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_plain_provider_is_expert_zero(shape):
    case = LayerCase(shape, image_size=0, batch=4, rank=2, mix="single", pass_="fwd")
    layer = make_layer(case, CPU)
    x, ids = make_inputs(case, CPU)
    make = conv_provider if shape.kind == "conv" else linear_provider
    fn, _ = make("plain", layer)
    torch.testing.assert_close(fn(x, ids), _reference(layer, x, ids), atol=1e-5, rtol=1e-5)


def test_triton_forms_are_timed_side_by_side_on_a_gpu(monkeypatch):
    from benchmarks import providers
    from benchmarks.names import TRITON_MEASURED, TRITON_SPLIT

    monkeypatch.setattr(
        providers,
        "backend_providers",
        lambda device: ["triton", "cuda", "torch"] if device.type == "cuda" else ["cpu", "torch"],
    )
    cuda = torch.device("cuda")
    names = available_providers(cuda)
    assert names[:5] == ["plain", "triton", TRITON_SPLIT, TRITON_MEASURED, "cuda"]
    assert TRITON_SPLIT not in available_providers(CPU)
    assert [providers.backend_of(n, cuda) for n in names[1:4]] == ["triton"] * 3


@pytest.mark.parametrize(
    "provider,strategy,measuring",
    [
        ("triton", "fused", False),
        ("triton_split", "split", False),
        ("triton_measured", "auto", True),
    ],
)
def test_each_triton_provider_runs_its_form(monkeypatch, provider, strategy, measuring):
    from benchmarks.providers import provider_context
    from lorkd_kernels.backends import current_settings

    def form_and_measuring():
        return current_settings().triton_strategy, current_settings().measuring

    outside = form_and_measuring()
    with provider_context(provider):
        assert form_and_measuring() == (strategy, measuring)
    assert form_and_measuring() == outside
