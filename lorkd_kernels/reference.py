"""The float64 oracle for every EKS kernel, and the paper's own formulation.

Everything here is plain differentiable PyTorch: autograd through these functions gives the
reference gradients the backends are tested against. Speed is not a goal.

* :func:`eks_conv2d_per_sample` / :func:`eks_linear_per_sample`: one ``F.conv2d`` / ``F.linear``
  per sample with that sample's merged weight ``W0 + s * B_t @ A_t``.
* :func:`eks_conv2d_paper` / :func:`eks_linear_paper`: the official LoRKD code's formulation, a
  per-sample weight tensor ``W0 + sum_t onehot[n, t] * dW_t`` (an N x T x |W| temporary) and one
  grouped convolution with ``groups = N * groups``.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def expert_delta(lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """All experts' weight updates ``s * B_t @ A_t`` as a (T, out, K) tensor."""
    return scaling * torch.bmm(lora_B, lora_A)


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """Precision for sums: float64 stays float64, everything else accumulates in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def task_delta(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor,
               scaling: float, task: int) -> torch.Tensor:
    """One task's ``s * B_t @ A_t`` in the weight's shape, in the accumulation dtype."""
    acc = accumulate_dtype(weight.dtype)
    return (scaling * (lora_B[task].to(acc) @ lora_A[task].to(acc))).reshape(weight.shape)


def merged_weight(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor,
                  scaling: float, task: int) -> torch.Tensor:
    """``W0 + s * B_t @ A_t`` in the weight's shape and dtype (computed in float32 for half
    weights, so every backend and the deployed plain layer round it the same way)."""
    delta = task_delta(weight, lora_A, lora_B, scaling, task)
    return (weight.to(delta.dtype) + delta).to(weight.dtype)


def effective_dilation(dilation: Sequence[int], weight_shape: Sequence[int]) -> tuple:
    """Dilation with 1 wherever the kernel has size 1 (where dilation has no effect)."""
    dilation = tuple(dilation) if isinstance(dilation, (list, tuple)) else (dilation, dilation)
    return tuple(1 if k == 1 else d for d, k in zip(dilation, weight_shape[2:]))


def _bf16_on_cpu(x: torch.Tensor) -> bool:
    return x.dtype == torch.bfloat16 and x.device.type == "cpu"


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
           stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
           groups: int) -> torch.Tensor:
    """``F.conv2d``, steering around two faults of torch's CPU convolution (2.13) that
    tests/backends/test_fuzz.py found:

    * bfloat16 returns wrong values: the forward for some shapes with unequal strides (about 1
      in 70 random small shapes), the weight gradient garbage where it should be zero (e.g. a
      kernel column that only meets padding). bfloat16 convolutions on CPU therefore run in
      float32 and are rounded back (see ``conv2d_grads`` too);
    * float16 forward segfaults for some shapes with dilation along a kernel dimension of size
      1: that dilation changes nothing, so it is set to 1 (see ``effective_dilation``).
    """
    dilation = effective_dilation(dilation, weight.shape)
    if _bf16_on_cpu(x):
        return F.conv2d(x.float(), weight.float(), None if bias is None else bias.float(),
                        stride, padding, dilation, groups).to(x.dtype)
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups)


def conv2d_grads(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                    stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                    groups: int, output_mask: Sequence[bool]) -> tuple:
    """``(grad_x, grad_weight)`` of a bias-free convolution, with :func:`conv2d`'s workarounds;
    an entry not asked for by ``output_mask`` is None."""
    dilation = list(effective_dilation(dilation, weight.shape))
    if _bf16_on_cpu(x):
        grads = conv2d_grads(grad_out.float(), x.float(), weight.float(), stride, padding,
                                dilation, groups, output_mask)
        return tuple(None if g is None else g.to(x.dtype) for g in grads)
    grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
        grad_out, x, weight, None, list(stride), list(padding), dilation, False, [0, 0],
        groups, [bool(output_mask[0]), bool(output_mask[1]), False])
    return grad_x, grad_w


def eks_conv2d_per_sample(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                          lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
                          stride: Sequence[int] = (1, 1), padding: Sequence[int] = (0, 0),
                          dilation: Sequence[int] = (1, 1), groups: int = 1,
                          scaling: float = 1.0) -> torch.Tensor:
    """EKS convolution as a loop over samples, each with its own merged weight."""
    outputs = [
        conv2d(x[n:n + 1], merged_weight(weight, lora_A, lora_B, scaling, int(task)), bias,
               stride, padding, dilation, groups)
        for n, task in enumerate(task_ids.tolist())
    ]
    if outputs:
        return torch.cat(outputs)
    return conv2d(x, weight, bias, stride, padding, dilation, groups)


def eks_conv2d_paper(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                     lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
                     stride: Sequence[int] = (1, 1), padding: Sequence[int] = (0, 0),
                     dilation: Sequence[int] = (1, 1), groups: int = 1,
                     scaling: float = 1.0) -> torch.Tensor:
    """The official LoRKD formulation: per-sample weights and one ``groups = N`` convolution."""
    n, c_in, h, w = x.shape
    num_tasks = lora_A.shape[0]
    onehot = F.one_hot(task_ids, num_tasks).to(x.dtype)                      # (N, T)
    delta = expert_delta(lora_A, lora_B, scaling)                            # (T, out, K)
    per_sample = weight.reshape(1, weight.shape[0], -1) + torch.einsum("nt,tok->nok", onehot, delta)
    per_sample = per_sample.reshape(n * weight.shape[0], *weight.shape[1:])
    y = conv2d(x.reshape(1, n * c_in, h, w), per_sample, None, stride, padding, dilation,
               groups * n)
    y = y.reshape(n, weight.shape[0], *y.shape[2:])
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y


def eks_linear_per_sample(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                          lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
                          scaling: float = 1.0) -> torch.Tensor:
    """EKS linear layer as a loop over samples, each with its own merged weight."""
    outputs = [
        F.linear(x[n:n + 1], merged_weight(weight, lora_A, lora_B, scaling, int(task)), bias)
        for n, task in enumerate(task_ids.tolist())
    ]
    if outputs:
        return torch.cat(outputs)
    return F.linear(x, weight, bias)


def eks_linear_paper(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                     lora_A: torch.Tensor, lora_B: torch.Tensor, task_ids: torch.Tensor,
                     scaling: float = 1.0) -> torch.Tensor:
    """The official formulation for linear layers: per-sample weights, one batched matmul."""
    onehot = F.one_hot(task_ids, lora_A.shape[0]).to(x.dtype)
    per_sample = weight + torch.einsum("nt,tok->nok", onehot, expert_delta(lora_A, lora_B, scaling))
    flat = x.reshape(x.shape[0], -1, x.shape[-1])                            # (N, L, in)
    y = torch.bmm(flat, per_sample.transpose(1, 2))
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], weight.shape[0])
