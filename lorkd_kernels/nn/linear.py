"""``EKSLinear``: a drop-in ``nn.Linear`` with one low-rank expert per task."""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from ..ops import eks_linear
from ._lora import LowRankExperts, as_task_ids, lora_scaling, make_lora_parameters


class EKSLinear(LowRankExperts, nn.Linear):
    """Linear layer whose weight for sample ``n`` is ``W0 + s * B[t_n] @ A[t_n]``.

    Parameters: ``weight`` and ``bias`` as in ``nn.Linear``, ``lora_A (num_tasks, rank,
    in_features)``, ``lora_B (num_tasks, out_features, rank)``; ``scaling = alpha / rank``.
    ``forward(x, task_ids)`` takes ``x`` of shape ``(N, ..., in_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        num_tasks: int,
        rank: int = 4,
        alpha: Optional[float] = None,
    ) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self.lora_A, self.lora_B = make_lora_parameters(
            num_tasks, rank, out_features, in_features, device, dtype
        )
        self.num_tasks, self.rank, self.alpha = num_tasks, rank, alpha
        self.scaling = lora_scaling(rank, alpha)

    def forward(
        self, x: torch.Tensor, task_ids: Union[torch.Tensor, int, None] = None
    ) -> torch.Tensor:
        """Apply each sample's own task weight ``W0 + s * B[t_n] @ A[t_n]``.

        Args:
            x: input ``(N, ..., in_features)``; every position of sample ``n`` (the middle
                dims) uses task ``t_n``. float16/bfloat16/float32/float64.
            task_ids: the task of every sample, an int64 tensor ``(N,)`` with values in
                ``[0, num_tasks)``; one int for the whole batch; or None inside a
                :class:`~lorkd_kernels.TaskRouter` / :func:`~lorkd_kernels.task_ids_context`,
                which supply them.

        Returns:
            ``(N, ..., out_features)``, what ``nn.Linear`` returns for the same arguments;
            differentiable with respect to ``x``, ``weight``, ``bias``, ``lora_A`` and
            ``lora_B`` (an expert whose task is absent from the batch gets a zero gradient).

        Raises:
            ValueError: no task ids are given or routed, or they do not match the batch.
            IndexError: a task id outside ``[0, num_tasks)``.
        """
        task_ids = as_task_ids(task_ids, x)
        return eks_linear(
            x, self.weight, self.bias, self.lora_A, self.lora_B, task_ids, self.scaling
        )

    @classmethod
    def from_linear(
        cls, linear: nn.Linear, num_tasks: int, rank: int = 4, alpha: Optional[float] = None
    ) -> "EKSLinear":
        """Wrap ``linear``: weights copied, ``lora_B`` zero, so the result starts identical."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects an nn.Linear, got {type(linear).__name__}")
        layer = cls(
            linear.in_features,
            linear.out_features,
            linear.bias is not None,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
            num_tasks=num_tasks,
            rank=rank,
            alpha=alpha,
        )
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias)
        return layer

    def to_linear(self, task: int) -> nn.Linear:
        """A plain ``nn.Linear`` computing this layer for ``task`` (the expert merged in)."""
        linear = nn.Linear(
            self.in_features,
            self.out_features,
            self.bias is not None,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            linear.weight.copy_(self.expert_weight(task))
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear
