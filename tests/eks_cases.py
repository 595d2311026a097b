"""Shared test inputs: the conv/linear shape matrix, random EKS problems, error measures."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import torch

from lorkd_kernels import reference

#: tolerance on max|out - ref| / max|ref| per input dtype (outputs rounded to that dtype)
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 3e-3, torch.bfloat16: 2e-2}


@dataclasses.dataclass(frozen=True)
class ConvCase:
    name: str
    c_in: int = 6
    c_out: int = 5
    kernel: Tuple[int, int] = (3, 3)
    stride: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (1, 1)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1
    batch: int = 7
    size: Tuple[int, int] = (7, 5)
    num_tasks: int = 4
    rank: int = 3
    mix: str = "absent"  # absent | random | one | per_sample | sorted

    def __str__(self) -> str:
        return self.name


CONV_CASES = [
    ConvCase("1x1", kernel=(1, 1), padding=(0, 0)),
    ConvCase("3x3"),
    ConvCase("7x7", kernel=(7, 7), padding=(3, 3), size=(9, 8)),
    ConvCase("stride2", stride=(2, 2)),
    ConvCase("stride2_7x7", kernel=(7, 7), padding=(3, 3), stride=(2, 2), size=(11, 9)),
    ConvCase("dilation2", dilation=(2, 2), padding=(2, 2)),
    ConvCase("asym_kernel", kernel=(3, 1), padding=(1, 0), stride=(2, 1)),
    ConvCase("groups2", c_in=6, c_out=4, groups=2),
    ConvCase("depthwise", c_in=6, c_out=6, groups=6, rank=2),
    ConvCase("depthwise_mult2", c_in=3, c_out=6, groups=3, stride=(2, 2), rank=2),
    ConvCase("rgb_input", c_in=3, c_out=8, kernel=(5, 5), padding=(2, 2)),
    ConvCase("batch1", batch=1),
    ConvCase("one_task", mix="one"),
    ConvCase("per_sample", mix="per_sample", num_tasks=7, batch=6),
    ConvCase("sorted", mix="sorted", batch=9),
    ConvCase("no_padding", padding=(0, 0)),
    # a strided 1x1 reads every stride-th pixel; 7x5 with strides (2, 3) leaves ragged edges
    ConvCase("1x1_stride", kernel=(1, 1), padding=(0, 0), stride=(2, 3)),
    ConvCase(
        "1x1_groups_stride2",
        c_in=6,
        c_out=4,
        groups=2,
        kernel=(1, 1),
        padding=(0, 0),
        stride=(2, 2),
    ),
    # 4 * T * r <= C_out: the cpu cost model takes the stacked split
    ConvCase("wide_out", c_out=24, num_tasks=3, rank=2),
]


@dataclasses.dataclass(frozen=True)
class LinearCase:
    name: str
    in_features: int = 13
    out_features: int = 7
    batch: int = 7
    inner: Tuple[int, ...] = ()  # extra dims between batch and features
    num_tasks: int = 4
    rank: int = 3
    mix: str = "absent"
    bias: bool = True

    def __str__(self) -> str:
        return self.name


LINEAR_CASES = [
    LinearCase("basic"),
    LinearCase("no_bias", bias=False),
    LinearCase("tokens", inner=(5,)),
    LinearCase("batch1", batch=1),
    LinearCase("one_task", mix="one"),
    LinearCase("per_sample", mix="per_sample", num_tasks=8, batch=7),
    LinearCase("wide_rank", in_features=5, out_features=3, rank=8),
    # T*r small against out_features (every expert's rows fit beside the base GEMM's)
    LinearCase("wide_out", in_features=11, out_features=29, num_tasks=3, rank=2, inner=(3,)),
    LinearCase("wide_out_one_task", out_features=20, num_tasks=4, rank=2, mix="one"),
]


def make_task_ids(mix: str, batch: int, num_tasks: int, gen: torch.Generator) -> torch.Tensor:
    """Task ids for a mix; 'absent' always leaves task 1 out (and uses at least two tasks)."""
    if mix == "one":
        return torch.full((batch,), num_tasks - 1, dtype=torch.int64)
    if mix == "per_sample":
        return torch.randperm(num_tasks, generator=gen)[:batch]
    ids = torch.randint(0, num_tasks, (batch,), generator=gen)
    if mix == "absent":
        ids[ids == 1] = 0
        if batch > 1:
            ids[-1] = num_tasks - 1
    if mix == "sorted":
        ids = ids.sort().values
    return ids


@dataclasses.dataclass
class Problem:
    """One EKS problem in float64 (the truth) plus helpers to cast it."""

    x: torch.Tensor
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    lora_A: torch.Tensor
    lora_B: torch.Tensor
    task_ids: torch.Tensor
    grad_out: torch.Tensor
    config: tuple  # (stride, padding, dilation, groups, scaling) or (scaling,)

    def tensors(self, dtype: torch.dtype, requires_grad: bool = False):
        out = []
        for t in (self.x, self.weight, self.bias, self.lora_A, self.lora_B):
            if t is None:
                out.append(None)
                continue
            t = t.to(dtype).detach().requires_grad_(requires_grad)
            out.append(t)
        return out

    def rounded(self, dtype: torch.dtype) -> "Problem":
        """The same problem with every float input rounded to ``dtype`` (kept in float64), so a
        reference on it sees exactly what a ``dtype`` kernel is given."""

        def r(t):
            return None if t is None else t.to(dtype).double()

        return dataclasses.replace(
            self,
            x=r(self.x),
            weight=r(self.weight),
            bias=r(self.bias),
            lora_A=r(self.lora_A),
            lora_B=r(self.lora_B),
            grad_out=r(self.grad_out),
        )

    def magnitudes(self) -> "Problem":
        """The problem on absolute values: run through the (multilinear) reference it gives, per
        output element, the sum of the magnitudes of the terms that element adds up, the scale
        floating-point error is proportional to."""

        def a(t):
            return None if t is None else t.abs()

        return dataclasses.replace(
            self,
            x=a(self.x),
            weight=a(self.weight),
            bias=a(self.bias),
            lora_A=a(self.lora_A),
            lora_B=a(self.lora_B),
            grad_out=a(self.grad_out),
            config=self.config[:-1] + (abs(self.config[-1]),),
        )

    def absent_tasks(self):
        present = set(self.task_ids.tolist())
        return [t for t in range(self.lora_A.shape[0]) if t not in present]


def conv_problem(case: ConvCase, seed: int = 0, bias: bool = True) -> Problem:
    gen = torch.Generator().manual_seed(seed)
    kh, kw = case.kernel
    k_dim = case.c_in // case.groups * kh * kw

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = rand(case.batch, case.c_in, *case.size)
    task_ids = make_task_ids(case.mix, case.batch, case.num_tasks, gen)
    weight = rand(case.c_out, case.c_in // case.groups, kh, kw) / k_dim**0.5
    lora_A = rand(case.num_tasks, case.rank, k_dim) / k_dim**0.5
    lora_B = rand(case.num_tasks, case.c_out, case.rank) / case.rank**0.5
    scaling = 0.75
    config = (list(case.stride), list(case.padding), list(case.dilation), case.groups, scaling)
    y = reference.eks_conv2d_per_sample(x, weight, None, lora_A, lora_B, task_ids, *config)
    return Problem(
        x,
        weight,
        rand(case.c_out) if bias else None,
        lora_A,
        lora_B,
        task_ids,
        rand(*y.shape),
        config,
    )


def linear_problem(case: LinearCase, seed: int = 0) -> Problem:
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = rand(case.batch, *case.inner, case.in_features)
    task_ids = make_task_ids(case.mix, case.batch, case.num_tasks, gen)
    return Problem(
        x,
        rand(case.out_features, case.in_features) / case.in_features**0.5,
        rand(case.out_features) if case.bias else None,
        rand(case.num_tasks, case.rank, case.in_features) / case.in_features**0.5,
        rand(case.num_tasks, case.out_features, case.rank),
        task_ids,
        rand(case.batch, *case.inner, case.out_features),
        (1.25,),
    )


def reference_outputs(problem: Problem, kind: str):
    """Float64 forward output and the gradients (x, weight, bias, lora_A, lora_B) by autograd."""
    inputs = problem.tensors(torch.float64, requires_grad=True)
    fn = reference.eks_conv2d_per_sample if kind == "conv" else reference.eks_linear_per_sample
    y = fn(*inputs, problem.task_ids, *problem.config)
    wrt = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(y, wrt, problem.grad_out))
    return y.detach(), [None if t is None else next(grads) for t in inputs]


def rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max|actual - expected| / max|expected| (in float64)."""
    actual, expected = actual.double(), expected.double()
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    scale = expected.abs().max().item() if expected.numel() else 0.0
    diff = (actual - expected).abs().max().item() if expected.numel() else 0.0
    return diff / max(scale, 1e-30)


#: the emulated CUDA kernels' tiles (csrc/kernels): 32 output channels x 32 output pixels per
#: block, reduction chunks of 16
EMULATOR_CHUNK = 16
EMULATOR_SIZE = (7, 5)


def emulator_sized(case: ConvCase) -> ConvCase:
    """``case`` at the smallest sizes that still cross the emulated kernels' tile boundaries.

    The emulator switches between all threads of a block at every barrier (one per reduction
    chunk), so its cost grows with blocks x chunks. Fewer input channels keep the reduction just
    over one chunk (``K > 16``) where it was longer, and images larger than 7x5 (35 pixels: still
    more than one 32-pixel tile at stride 1) shrink to it; every other property of the case
    stays.
    """
    kh, kw = case.kernel
    c_in_per_group = case.c_in // case.groups
    if c_in_per_group * kh * kw > EMULATOR_CHUNK:
        c_in_per_group = min(c_in_per_group, -(-(EMULATOR_CHUNK + 1) // (kh * kw)))
    size = case.size
    if size[0] * size[1] > EMULATOR_SIZE[0] * EMULATOR_SIZE[1]:
        size = EMULATOR_SIZE
    return dataclasses.replace(case, c_in=c_in_per_group * case.groups, size=size)
