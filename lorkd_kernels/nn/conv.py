"""``EKSConv2d``: a drop-in ``nn.Conv2d`` with one low-rank expert per task."""

from __future__ import annotations

from typing import Literal, Optional, Tuple, Union, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..ops import eks_conv2d
from ._lora import LowRankExperts, as_task_ids, lora_scaling, make_lora_parameters


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


def _pair(size: Tuple[int, ...]) -> Tuple[int, int]:
    """A 2-D conv's size attribute (torch types those of every conv as tuples of any length)."""
    return cast(Tuple[int, int], size)


def _has_channels_last_strides(t: torch.Tensor) -> bool:
    # public-API form of torch's own test: channels_last strides that are not also plain
    # contiguous ones (a tensor with C == 1 or H == W == 1 is both, and counts as contiguous)
    return (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    )


def _output_memory_format(x: torch.Tensor, weight: torch.Tensor) -> torch.memory_format:
    """``nn.Conv2d``'s choice: channels_last output when the input or the weight has
    channels_last strides (the ops themselves always return contiguous tensors)."""
    if _has_channels_last_strides(x) or _has_channels_last_strides(weight):
        return torch.channels_last
    return torch.contiguous_format


class EKSConv2d(LowRankExperts, nn.Conv2d):
    """2-D convolution whose weight for sample ``n`` is ``W0 + s * B[t_n] @ A[t_n]``.

    Takes every ``nn.Conv2d`` argument (``padding="same"``, all ``padding_mode`` values, groups
    including depthwise) plus ``num_tasks``, ``rank`` and ``alpha`` (``scaling = alpha / rank``,
    alpha defaults to rank). Parameters: ``weight`` and ``bias`` as in ``nn.Conv2d``,
    ``lora_A (num_tasks, rank, C_in/groups*kh*kw)`` and ``lora_B (num_tasks, C_out, rank)``.
    The update acts on the weight matricized as ``(C_out, C_in/groups*kh*kw)``, peft's LoRA-conv
    layout.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        device=None,
        dtype=None,
        *,
        num_tasks: int,
        rank: int = 4,
        alpha: Optional[float] = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device=device,
            dtype=dtype,
        )
        k_dim = (in_channels // groups) * self.kernel_size[0] * self.kernel_size[1]
        self.lora_A, self.lora_B = make_lora_parameters(
            num_tasks, rank, out_channels, k_dim, device, dtype
        )
        self.num_tasks, self.rank, self.alpha = num_tasks, rank, alpha
        self.scaling = lora_scaling(rank, alpha)

    def _op_padding_and_input(self, x: torch.Tensor):
        """Apply non-zero padding modes and asymmetric 'same' padding; return the op's padding."""
        pad_lr = self._reversed_padding_repeated_twice  # (left_w, right_w, top_h, bottom_h)
        symmetric = pad_lr[0] == pad_lr[1] and pad_lr[2] == pad_lr[3]
        if self.padding_mode == "zeros" and symmetric:
            return x, (pad_lr[2], pad_lr[0])
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.pad(x, pad_lr, mode=mode), (0, 0)

    def forward(
        self, x: torch.Tensor, task_ids: Union[torch.Tensor, int, None] = None
    ) -> torch.Tensor:
        """Convolve each sample with its own task's weight ``W0 + s * B[t_n] @ A[t_n]``.

        Args:
            x: input ``(N, C_in, H, W)``, float16/bfloat16/float32/float64.
            task_ids: the task of every sample, an int64 tensor ``(N,)`` with values in
                ``[0, num_tasks)``; one int for the whole batch; or None inside a
                :class:`~lorkd_kernels.TaskRouter` / :func:`~lorkd_kernels.task_ids_context`,
                which supply them.

        Returns:
            ``(N, C_out, H_out, W_out)``, what ``nn.Conv2d`` returns for the same arguments;
            differentiable with respect to ``x``, ``weight``, ``bias``, ``lora_A`` and
            ``lora_B`` (an expert whose task is absent from the batch gets a zero gradient).

        Raises:
            ValueError: ``x`` is not 4-D, or no task ids are given or routed.
            IndexError: a task id outside ``[0, num_tasks)``.
        """
        if x.dim() != 4:
            raise ValueError(f"EKSConv2d expects x of shape (N, C, H, W), got {tuple(x.shape)}")
        task_ids = as_task_ids(task_ids, x)
        memory_format = _output_memory_format(x, self.weight)
        x, padding = self._op_padding_and_input(x)
        y = eks_conv2d(
            x,
            self.weight,
            self.bias,
            self.lora_A,
            self.lora_B,
            task_ids,
            self.stride,
            padding,
            self.dilation,
            self.groups,
            self.scaling,
        )
        return y.contiguous(memory_format=memory_format)

    @classmethod
    def from_conv(
        cls, conv: nn.Conv2d, num_tasks: int, rank: int = 4, alpha: Optional[float] = None
    ) -> "EKSConv2d":
        """Wrap ``conv``: weights copied, ``lora_B`` zero, so the result starts identical."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"from_conv expects an nn.Conv2d, got {type(conv).__name__}")
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
            conv.padding_mode,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
            num_tasks=num_tasks,
            rank=rank,
            alpha=alpha,
        )
        with torch.no_grad():
            layer.weight.copy_(conv.weight)
            if conv.bias is not None:  # then the layer has one too
                cast(torch.Tensor, layer.bias).copy_(conv.bias)
        return layer

    def to_conv(self, task: int) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` computing this layer for ``task`` (the expert merged in)."""
        padding = self.padding if isinstance(self.padding, str) else _pair(self.padding)
        conv = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            _pair(self.kernel_size),
            _pair(self.stride),
            padding,
            _pair(self.dilation),
            self.groups,
            self.bias is not None,
            self.padding_mode,
            device=self.weight.device,
            dtype=self.weight.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(self.expert_weight(task))
            if self.bias is not None:  # then conv has one too
                cast(torch.Tensor, conv.bias).copy_(self.bias)
        return conv
