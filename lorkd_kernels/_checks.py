"""Argument validation shared by the fake kernels and the Python backends (the C++ kernels
mirror it in csrc/common/checks.cpp).

Every check runs on metadata only (shapes, dtypes, devices), so it is valid on fake tensors and
under ``torch.compile``. The one data-dependent check, the range of ``task_ids``, lives in
:func:`check_task_id_range` and is called by the backends right before they index with the ids.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from .task_plan import TaskPlan, attached_plan, read_ids

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _require(condition: bool, exc: type, message: str) -> None:
    if not condition:
        raise exc(message)


def _check_lora(
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    out_dim: int,
    k_dim: int,
    x: torch.Tensor,
    k_name: str,
) -> None:
    _require(
        lora_A.dim() == 3,
        ValueError,
        f"lora_A must be 3-D (num_tasks, rank, {k_name}), got shape {tuple(lora_A.shape)}",
    )
    _require(
        lora_B.dim() == 3,
        ValueError,
        f"lora_B must be 3-D (num_tasks, out, rank), got shape {tuple(lora_B.shape)}",
    )
    num_tasks, rank, k = lora_A.shape
    _require(num_tasks >= 1, ValueError, "lora_A must hold at least one task")
    _require(
        k == k_dim,
        ValueError,
        f"lora_A has {k} columns but {k_name} = {k_dim}; expected shape "
        f"({num_tasks}, {rank}, {k_dim})",
    )
    _require(
        tuple(lora_B.shape) == (num_tasks, out_dim, rank),
        ValueError,
        f"lora_B must have shape ({num_tasks}, {out_dim}, {rank}) to match lora_A "
        f"{tuple(lora_A.shape)} and the weight, got {tuple(lora_B.shape)}",
    )
    for name, t in (("lora_A", lora_A), ("lora_B", lora_B)):
        _require(
            t.dtype == x.dtype,
            TypeError,
            f"{name} has dtype {t.dtype} but x has dtype {x.dtype}; they must match",
        )
        _require(
            t.device == x.device, ValueError, f"{name} is on {t.device} but x is on {x.device}"
        )


def _check_common(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    task_ids: torch.Tensor,
    out_dim: int,
) -> None:
    _require(
        x.dtype in FLOAT_DTYPES,
        TypeError,
        f"x must be a floating tensor (float16, bfloat16, float32, float64), got {x.dtype}",
    )
    _require(
        weight.dtype == x.dtype,
        TypeError,
        f"weight has dtype {weight.dtype} but x has dtype {x.dtype}; they must match",
    )
    _require(
        weight.device == x.device,
        ValueError,
        f"weight is on {weight.device} but x is on {x.device}",
    )
    if bias is not None:
        _require(
            tuple(bias.shape) == (out_dim,),
            ValueError,
            f"bias must have shape ({out_dim},), got {tuple(bias.shape)}",
        )
        _require(
            bias.dtype == x.dtype,
            TypeError,
            f"bias has dtype {bias.dtype} but x has dtype {x.dtype}; they must match",
        )
        _require(
            bias.device == x.device, ValueError, f"bias is on {bias.device} but x is on {x.device}"
        )
    _require(
        task_ids.dtype == torch.int64,
        TypeError,
        f"task_ids must be an int64 tensor, got dtype {task_ids.dtype}",
    )
    _require(
        task_ids.dim() == 1,
        ValueError,
        f"task_ids must be 1-D (batch,), got shape {tuple(task_ids.shape)}",
    )
    _require(
        task_ids.shape[0] == x.shape[0],
        ValueError,
        f"task_ids has {task_ids.shape[0]} entries but the batch has {x.shape[0]} samples",
    )
    _require(
        task_ids.device == x.device,
        ValueError,
        f"task_ids is on {task_ids.device} but x is on {x.device}",
    )


def check_conv2d_args(
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
) -> None:
    """Raise a clear error if the arguments of ``eks_conv2d`` are inconsistent."""
    _require(x.dim() == 4, ValueError, f"x must be 4-D (N, C_in, H, W), got shape {tuple(x.shape)}")
    _require(
        weight.dim() == 4,
        ValueError,
        f"weight must be 4-D (C_out, C_in/groups, kh, kw), got shape {tuple(weight.shape)}",
    )
    _require(groups >= 1, ValueError, f"groups must be >= 1, got {groups}")
    c_out, c_in_per_group, kh, kw = weight.shape
    _require(
        x.shape[1] == c_in_per_group * groups,
        ValueError,
        f"x has {x.shape[1]} channels but weight expects {c_in_per_group * groups} "
        f"(C_in/groups = {c_in_per_group}, groups = {groups})",
    )
    _require(
        c_out % groups == 0,
        ValueError,
        f"out channels ({c_out}) must be divisible by groups ({groups})",
    )
    for name, values, low in (
        ("stride", stride, 1),
        ("padding", padding, 0),
        ("dilation", dilation, 1),
    ):
        _require(
            len(values) == 2 and all(v >= low for v in values),
            ValueError,
            f"{name} must be two integers >= {low}, got {list(values)}",
        )
    for dim, (size, k) in enumerate(zip(x.shape[2:], (kh, kw))):
        span = dilation[dim] * (k - 1) + 1
        _require(
            size + 2 * padding[dim] >= span,
            ValueError,
            f"x spatial size {tuple(x.shape[2:])} (padded by {list(padding)}) is smaller "
            f"than the dilated kernel ({span} along dim {dim + 2})",
        )
    _check_common(x, weight, bias, task_ids, c_out)
    _check_lora(lora_A, lora_B, c_out, c_in_per_group * kh * kw, x, "K = C_in/groups*kh*kw")


def check_linear_args(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor],
    lora_A: torch.Tensor,
    lora_B: torch.Tensor,
    task_ids: torch.Tensor,
) -> None:
    """Raise a clear error if the arguments of ``eks_linear`` are inconsistent."""
    _require(
        x.dim() >= 2,
        ValueError,
        f"x must be at least 2-D (N, ..., in_features), got shape {tuple(x.shape)}",
    )
    _require(
        weight.dim() == 2,
        ValueError,
        f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}",
    )
    out_features, in_features = weight.shape
    _require(
        x.shape[-1] == in_features,
        ValueError,
        f"x has {x.shape[-1]} features in its last dim but weight expects {in_features}",
    )
    _check_common(x, weight, bias, task_ids, out_features)
    _check_lora(lora_A, lora_B, out_features, in_features, x, "in_features")


def check_grad_out(grad_out: torch.Tensor, expected_shape: Sequence[int], x: torch.Tensor) -> None:
    """The incoming gradient must have the forward output's shape, dtype and device."""
    _require(
        tuple(grad_out.shape) == tuple(expected_shape),
        ValueError,
        f"grad_out has shape {tuple(grad_out.shape)} but the forward output has shape "
        f"{tuple(expected_shape)}",
    )
    _require(
        grad_out.dtype == x.dtype,
        TypeError,
        f"grad_out has dtype {grad_out.dtype} but x has dtype {x.dtype}; they must match",
    )
    _require(
        grad_out.device == x.device,
        ValueError,
        f"grad_out is on {grad_out.device} but x is on {x.device}",
    )


def check_task_id_range(task_ids: torch.Tensor, num_tasks: int) -> None:
    """Raise IndexError if any task id lies outside ``[0, num_tasks)``: from the range the
    batch's task plan read once, or else by reading the ids' range (one host read)."""
    plan = attached_plan(task_ids)
    if plan is None or plan.id_range is None:
        plan = TaskPlan(task_ids, read_ids(task_ids))
    plan.check_range(num_tasks)


def conv2d_output_size(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple:
    """Output shape (N, C_out, H_out, W_out) of a 2-D convolution."""
    spatial = []
    for dim in range(2):
        k = weight_shape[2 + dim]
        size = x_shape[2 + dim] + 2 * padding[dim] - dilation[dim] * (k - 1) - 1
        spatial.append(size // stride[dim] + 1)
    return (x_shape[0], weight_shape[0], *spatial)


def rows_per_sample(x_shape: Sequence[int]) -> int:
    """Positions per sample of a linear layer's ``(N, ..., features)`` input (computed from the
    shape, so ``N = 0`` reshapes too)."""
    count = 1
    for size in x_shape[1:-1]:
        count *= size
    return count


# Forward functions take (x, weight, bias, ...); backward functions (grad_out, x, weight,
# lora_A, ...), as the ops do.
def validated_backend(module) -> dict:
    """A Python backend's four functions, each validating its arguments first, so a direct call
    of its ops gets the same clear errors as the C++ kernels give."""

    def conv2d(fn, is_backward: bool):
        def run(*args):
            x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups = (
                (*args[1:3], None, *args[3:10]) if is_backward else args[:10]
            )
            check_conv2d_args(
                x, weight, bias, lora_A, lora_B, task_ids, stride, padding, dilation, groups
            )
            if is_backward:
                check_grad_out(
                    args[0], conv2d_output_size(x.shape, weight.shape, stride, padding, dilation), x
                )
            return fn(*args)

        return run

    def linear(fn, is_backward: bool):
        def run(*args):
            x, weight, bias, lora_A, lora_B, task_ids = (
                (*args[1:3], None, *args[3:6]) if is_backward else args[:6]
            )
            check_linear_args(x, weight, bias, lora_A, lora_B, task_ids)
            if is_backward:
                check_grad_out(args[0], (*x.shape[:-1], weight.shape[0]), x)
            return fn(*args)

        return run

    return {
        "eks_conv2d": conv2d(module.conv2d_forward, False),
        "eks_conv2d_backward": conv2d(module.conv2d_backward, True),
        "eks_linear": linear(module.linear_forward, False),
        "eks_linear_backward": linear(module.linear_backward, True),
    }
