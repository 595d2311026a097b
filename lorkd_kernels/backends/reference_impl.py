"""The ``reference`` backend: the oracle of :mod:`lorkd_kernels.reference` behind the op.

Forward is the per-sample loop; backward applies the chain rule sample by sample with the merged
weight (``dX_n``, ``G_n = dW_n``; ``dW0 += G_n``, ``dA_t += s B_t^T G_n``, ``dB_t += s G_n A_t^T``).
Everything accumulates in the input dtype, so run it in float64 when it is the yardstick.
"""

from __future__ import annotations

import sys
from typing import List, Optional, Sequence

import torch

from .. import reference
from .._checks import check_task_id_range
from .aten_conv import conv2d_grads
from .define import python_backend


def conv2d_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    scaling: float,
) -> torch.Tensor:
    check_task_id_range(task_ids, lora_A.shape[0])
    return reference.eks_conv2d_per_sample(
        x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups, scaling
    ).contiguous()


def conv2d_backward(
    grad_out,
    x,
    weight,
    lora_A,
    lora_B,
    task_ids,
    stride,
    padding,
    dilation,
    groups,
    scaling,
    output_mask,
) -> List[torch.Tensor]:
    check_task_id_range(task_ids, lora_A.shape[0])
    grad_x = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    grad_w = torch.zeros(weight.shape[0], lora_A.shape[2], dtype=x.dtype, device=x.device)
    grad_A, grad_B = torch.zeros_like(lora_A), torch.zeros_like(lora_B)
    for n, task in enumerate(task_ids.tolist()):
        w_n = reference.merged_weight(weight, lora_A, lora_B, scaling, task).to(weight.dtype)
        gx_n, g_n = conv2d_grads(
            grad_out[n : n + 1], x[n : n + 1], w_n, stride, padding, dilation, groups, (True, True)
        )
        grad_x[n] = gx_n[0]
        g_n = g_n.reshape(weight.shape[0], -1)
        grad_w += g_n
        grad_A[task] += scaling * (lora_B[task].T @ g_n)
        grad_B[task] += scaling * (g_n @ lora_A[task].T)
    grads = [grad_x, grad_w.reshape(weight.shape), grad_out.sum((0, 2, 3)), grad_A, grad_B]
    return [g if need else x.new_empty((0,)) for g, need in zip(grads, output_mask)]


def linear_forward(x, weight, bias, lora_A, lora_B, task_ids, scaling) -> torch.Tensor:
    check_task_id_range(task_ids, lora_A.shape[0])
    return reference.eks_linear_per_sample(
        x, weight, bias, lora_A, lora_B, task_ids, scaling
    ).contiguous()


def linear_backward(
    grad_out, x, weight, lora_A, lora_B, task_ids, scaling, output_mask
) -> List[torch.Tensor]:
    check_task_id_range(task_ids, lora_A.shape[0])
    grad_x = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    grad_w = torch.zeros_like(weight)
    grad_A, grad_B = torch.zeros_like(lora_A), torch.zeros_like(lora_B)
    for n, task in enumerate(task_ids.tolist()):
        w_n = reference.merged_weight(weight, lora_A, lora_B, scaling, task).to(weight.dtype)
        gy_n = grad_out[n].reshape(-1, weight.shape[0])
        x_n = x[n].reshape(-1, weight.shape[1])
        grad_x[n] = (gy_n @ w_n).reshape(x.shape[1:])
        g_n = gy_n.T @ x_n
        grad_w += g_n
        grad_A[task] += scaling * (lora_B[task].T @ g_n)
        grad_B[task] += scaling * (g_n @ lora_A[task].T)
    bias_grad = grad_out.reshape(-1, weight.shape[0]).sum(0)
    grads = [grad_x, grad_w, bias_grad, grad_A, grad_B]
    return [g if need else x.new_empty((0,)) for g, need in zip(grads, output_mask)]


# Declared last, once the four functions above exist: its private ops _reference_<op>, their fakes
# and autograd.
python_backend("reference", sys.modules[__name__])
