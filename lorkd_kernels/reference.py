"""The float64 oracle for every EKS kernel, and the paper's own formulation.

Everything here is plain differentiable PyTorch: autograd through these functions gives the
reference gradients the backends are tested against. Speed is not a goal. It imports nothing
from the library and the library computes nothing with it (only the ``reference`` backend, the
oracle itself behind the ops, calls it): the oracle computes the merged weights itself, so a
change to the production math (:mod:`lorkd_kernels.expert_weights`) cannot silently change what
checks it.

* :func:`eks_conv2d_per_sample` / :func:`eks_linear_per_sample`: one ``F.conv2d`` / ``F.linear``
  per sample with that sample's merged weight ``W0 + s * B_t @ A_t``.
* :func:`eks_conv2d_paper` / :func:`eks_linear_paper`: the official LoRKD code's formulation, a
  per-sample weight tensor ``W0 + sum_t onehot[n, t] * dW_t`` (an N x T x |W| temporary) and one
  grouped convolution with ``groups = N * groups``.

Half-precision inputs are computed in float32 and rounded once at the end (what the op contract
promises: float32 accumulation); float32 and float64 are computed as given.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def expert_delta(lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """All experts' weight updates ``s * B_t @ A_t`` as a (T, out, K) tensor."""
    return scaling * torch.bmm(lora_B, lora_A)


def merged_weight(
    weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float, task: int
) -> torch.Tensor:
    """``W0 + s * B_t @ A_t`` in the weight's shape, in the compute dtype."""
    dtype = _compute_dtype(weight.dtype)
    delta = scaling * (lora_B[task].to(dtype) @ lora_A[task].to(dtype))
    return weight.to(dtype) + delta.reshape(weight.shape)


def _conv2d(x, weight, bias, stride, padding, dilation, groups):
    dtype = _compute_dtype(x.dtype)
    y = F.conv2d(
        x.to(dtype),
        weight.to(dtype),
        None if bias is None else bias.to(dtype),
        stride,
        padding,
        dilation,
        groups,
    )
    return y.to(x.dtype)


def _linear(x, weight, bias):
    dtype = _compute_dtype(x.dtype)
    return F.linear(x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)).to(
        x.dtype
    )


def eks_conv2d_per_sample(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
    scaling: float = 1.0,
) -> torch.Tensor:
    """EKS convolution as a loop over samples, each with its own merged weight."""
    outputs = [
        _conv2d(
            x[n : n + 1],
            merged_weight(weight, lora_A, lora_B, scaling, int(task)),
            bias,
            stride,
            padding,
            dilation,
            groups,
        )
        for n, task in enumerate(task_ids.tolist())
    ]
    if outputs:
        return torch.cat(outputs)
    return _conv2d(x, weight, bias, stride, padding, dilation, groups)


def eks_conv2d_paper(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
    scaling: float = 1.0,
) -> torch.Tensor:
    """The official LoRKD formulation: per-sample weights and one ``groups = N`` convolution."""
    n, c_in, h, w = x.shape
    num_tasks = lora_A.shape[0]
    onehot = F.one_hot(task_ids, num_tasks).to(x.dtype)  # (N, T)
    delta = expert_delta(lora_A, lora_B, scaling)  # (T, out, K)
    per_sample = weight.reshape(1, weight.shape[0], -1) + torch.einsum("nt,tok->nok", onehot, delta)
    per_sample = per_sample.reshape(n * weight.shape[0], *weight.shape[1:])
    y = _conv2d(
        x.reshape(1, n * c_in, h, w), per_sample, None, stride, padding, dilation, groups * n
    )
    y = y.reshape(n, weight.shape[0], *y.shape[2:])
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y


def eks_linear_per_sample(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    scaling: float = 1.0,
) -> torch.Tensor:
    """EKS linear layer as a loop over samples, each with its own merged weight."""
    outputs = [
        _linear(x[n : n + 1], merged_weight(weight, lora_A, lora_B, scaling, int(task)), bias)
        for n, task in enumerate(task_ids.tolist())
    ]
    if outputs:
        return torch.cat(outputs)
    return _linear(x, weight, bias)


def eks_linear_paper(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    scaling: float = 1.0,
) -> torch.Tensor:
    """The official formulation for linear layers: per-sample weights, one batched matmul."""
    onehot = F.one_hot(task_ids, lora_A.shape[0]).to(x.dtype)
    per_sample = weight + torch.einsum("nt,tok->nok", onehot, expert_delta(lora_A, lora_B, scaling))
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (N, L, in)
    y = torch.bmm(flat, per_sample.transpose(1, 2))
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], weight.shape[0])
