"""fwd+bwd time of one conv layer: plain nn.Conv2d vs EKSConv2d vs the paper's formulation.

    python -m pytest benchmarks/test_bench_conv_layer.py --benchmark-group-by=param:shape \
        --benchmark-columns=median,iqr --benchmark-sort=name

T = 10 tasks, rank 4, a uniform random task mix (not sorted by task); shapes from ShuffleNetV2
x1.0 and ResNet-18 at 28x28-class inputs, batch 64.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.common import scaled
from lorkd_kernels import EKSConv2d, reference

NUM_TASKS, RANK = 10, 4
# name: (C_in, C_out, kernel, stride, groups, spatial size)
SHAPES = {
    "shufflenet_1x1_116@28": (116, 116, 1, 1, 1, 28),
    "shufflenet_dw3x3_116@28": (116, 116, 3, 1, 116, 28),
    "shufflenet_1x1_232@14": (232, 232, 1, 1, 1, 14),
    "shufflenet_1x1_464@7": (464, 464, 1, 1, 1, 7),
    "resnet18_3x3_64@28": (64, 64, 3, 1, 1, 28),
    "resnet18_3x3_128s2@28": (64, 128, 3, 2, 1, 28),
}


def _setup(shape_name):
    c_in, c_out, k, stride, groups, size = SHAPES[shape_name]
    batch, size = scaled(64, size)
    torch.manual_seed(0)
    layer = EKSConv2d(c_in, c_out, k, stride, k // 2, groups=groups, num_tasks=NUM_TASKS,
                      rank=RANK)
    nn.init.normal_(layer.lora_B, std=0.02)
    x = torch.randn(batch, c_in, size, size, requires_grad=True)
    task_ids = torch.randint(0, NUM_TASKS, (batch,))
    return layer, x, task_ids


def _provider(name, layer):
    if name == "plain":
        plain = layer.to_conv(0)
        return lambda x, t: plain(x)
    if name == "eks":
        return layer
    return lambda x, t: reference.eks_conv2d_paper(
        x, layer.weight, layer.bias, layer.lora_A, layer.lora_B, t, layer.stride, layer.padding,
        layer.dilation, layer.groups, layer.scaling)


@pytest.mark.parametrize("provider", ["plain", "eks", "paper"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_conv_layer_fwd_bwd(benchmark, shape, provider):
    layer, x, task_ids = _setup(shape)
    fn = _provider(provider, layer)

    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        fn(x, task_ids).sum().backward()

    step()   # warm-up (oneDNN primitive creation)
    benchmark(step)
