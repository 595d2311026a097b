"""The counted cost of the triton backend's two conv forms, per layer: FLOPs, bytes and launches of
every kernel, and a roofline estimate of the time they take on a reference GPU.

Counted, not measured: FLOPs are what the kernels execute (the rank padded to the dot's minimum,
the fused forward's shrink recomputed once per output-channel tile), bytes are each kernel's
compulsory traffic (every tensor it reads or writes, once), and a kernel's time is
``max(FLOPs / peak, bytes / bandwidth)`` plus a fixed cost per launch. Real kernels reach less
than the roofline, the fused ones especially (register-limited to 12.5-37.5% occupancy,
``benchmarks/triton_resources.md``): the estimate ranks forms where their traffic differs by
multiples, and it is what a measurement on a GPU checks.

Where it decides: the triton backend's ``auto`` strategy without measuring runs, for a grouped
or depthwise conv, the form this model finds cheaper (the split form's rank-r intermediates
have ``groups * r`` channels there, r times the output's for a depthwise conv, so its extra
traffic can be several times the plain layer's). Dense convs keep the split form: its cost is
the plain cuDNN conv's plus the branch's by construction, while the fused kernels' distance
from their roofline is unmeasured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, cast

from . import configs

ACC_BYTES = 4  # the rank-r intermediates and the atomic accumulators are fp32


@dataclass(frozen=True)
class Gpu:
    name: str
    bandwidth: float  # bytes per second
    peak_flops: float  # dense fp16/bf16 tensor-core FLOPs per second
    launch_seconds: float  # fixed cost of one kernel launch
    tf32_flops: float  # dense TF32 tensor-core FLOPs per second
    fma_flops: float  # fp32 FLOPs per second of the CUDA cores (no tensor cores)


H100 = Gpu(
    "H100 SXM (3.35 TB/s, 989 TFLOP/s bf16, 5 us a launch)",
    3.35e12,
    989e12,
    5e-6,
    tf32_flops=494e12,
    fma_flops=67e12,
)


def dot_peak(element: int, tf32: bool, gpu: Gpu = H100) -> Optional[float]:
    """FLOPs per second of a ``tl.dot`` on operands of ``element`` bytes: tensor cores for
    fp16/bf16, and for fp32 where the layer's TF32 switch allows it; None where the dot runs as
    exact products on the CUDA cores (strict fp32, fp64)."""
    if element == 2:
        return gpu.peak_flops
    if element == 4 and tf32:
        return gpu.tf32_flops
    return None


def rank_arithmetic(rank: int, peak: Optional[float], gpu: Gpu = H100) -> str:
    """How the kernels multiply by the rank-r factors, from the counted FLOPs: ``"dot"`` pads the
    rank to ``configs.MIN_DOT`` for ``tl.dot`` (at ``peak``, the dot's FLOPs per second, or the
    CUDA cores' where None); ``"fma"`` multiplies and adds on the CUDA cores with the rank padded
    to a power of two only. The cheaper one wins: with tensor cores the padded dot from rank 3
    (TF32) or 2 (bf16) on, without them the multiply-adds up to rank 8 (from 9 on both pad to
    16, and the dot is kept). Ranks from ``MIN_DOT`` on always use the dot."""
    if rank >= configs.MIN_DOT:
        return "dot"
    dot_seconds = configs.rank_block(rank, "dot") / (gpu.fma_flops if peak is None else peak)
    fma_seconds = configs.rank_block(rank, "fma") / gpu.fma_flops
    return "fma" if fma_seconds < dot_seconds else "dot"


@dataclass(frozen=True)
class Kernel:
    """One launch: what it computes and moves."""

    name: str
    flops: float
    bytes: float
    backward: bool = False  # launched by the backward op

    def seconds(self, gpu: Gpu) -> float:
        return max(self.flops / gpu.peak_flops, self.bytes / gpu.bandwidth) + gpu.launch_seconds


@dataclass(frozen=True)
class FormCost:
    kernels: Tuple[Kernel, ...]

    @property
    def launches(self) -> int:
        return len(self.kernels)

    def launches_of(self, backward: bool) -> int:
        """Launches of the forward op (``backward`` False) or of the backward op."""
        return sum(k.backward == backward for k in self.kernels)

    @property
    def flops(self) -> float:
        return sum(k.flops for k in self.kernels)

    @property
    def bytes(self) -> float:
        return sum(k.bytes for k in self.kernels)

    def seconds(self, gpu: Gpu = H100) -> float:
        return sum(k.seconds(gpu) for k in self.kernels)


def _spatial(sizes: Sequence[int]) -> Tuple[int, int]:
    """The (height, width) of a 2-D conv's shape, as a tuple."""
    return cast(Tuple[int, int], tuple(sizes))


@dataclass(frozen=True)
class ConvLayer:
    """The geometry of one EKS conv call."""

    batch: int
    c_in: int
    c_out: int
    groups: int
    in_size: Tuple[int, int]
    out_size: Tuple[int, int]
    kernel: Tuple[int, int]
    rank: int
    num_tasks: int
    element: int  # bytes per element of x, y and the weights

    @classmethod
    def of_call(
        cls,
        x_shape: Sequence[int],
        weight_shape: Sequence[int],
        out_size: Sequence[int],
        groups: int,
        rank: int,
        num_tasks: int,
        element: int,
    ) -> "ConvLayer":
        return cls(
            x_shape[0],
            x_shape[1],
            weight_shape[0],
            groups,
            _spatial(x_shape[2:]),
            _spatial(out_size),
            _spatial(weight_shape[2:]),
            rank,
            num_tasks,
            element,
        )

    @property
    def depth(self) -> int:  # K = C_in/groups * kh * kw
        return self.c_in // self.groups * self.kernel[0] * self.kernel[1]

    @property
    def rows(self) -> int:  # output pixels of the batch
        return self.batch * self.out_size[0] * self.out_size[1]

    @property
    def x_bytes(self) -> float:
        return self.batch * self.c_in * self.in_size[0] * self.in_size[1] * self.element

    @property
    def y_bytes(self) -> float:
        return self.rows * self.c_out * self.element

    @property
    def weight_bytes(self) -> float:
        return self.c_out * self.depth * self.element

    @property
    def expert_bytes(self) -> float:  # every task's A and B
        return self.num_tasks * self.rank * (self.depth + self.c_out) * self.element

    @property
    def branch_bytes(self) -> float:  # u or v: (N, groups * r, H_out, W_out), fp32
        return self.rows * self.groups * self.rank * ACC_BYTES

    @property
    def padded_rank(self) -> int:
        """The rank the kernels compute with (``rank_arithmetic``; fp32 with TF32 allowed, as
        torch's convolutions default to)."""
        peak = dot_peak(self.element, tf32=True)
        return configs.rank_block(self.rank, rank_arithmetic(self.rank, peak))

    @property
    def base_flops(self) -> float:  # one of the plain layer's GEMMs
        return 2.0 * self.rows * self.c_out * self.depth

    @property
    def shrink_flops(self) -> float:
        return 2.0 * self.rows * self.groups * self.padded_rank * self.depth

    @property
    def expand_flops(self) -> float:
        return 2.0 * self.rows * self.c_out * self.padded_rank


def plain(layer: ConvLayer) -> FormCost:
    """The plain conv, forward and backward (cuDNN: one call each way)."""
    return FormCost(
        (
            Kernel("conv", layer.base_flops, layer.x_bytes + layer.weight_bytes + layer.y_bytes),
            Kernel(
                "conv backward",
                2 * layer.base_flops,
                2 * layer.y_bytes + 2 * layer.x_bytes + 2 * layer.weight_bytes,
                True,
            ),
        )
    )


def fused(layer: ConvLayer) -> FormCost:
    """The fused kernels (``conv.py``): forward; zeroing, input gradient, weight gradients."""
    out_tiles = -(-(layer.c_out // layer.groups) // 32)  # the forward recomputes the shrink
    in_tiles = -(-(layer.c_in // layer.groups) // 32)  # dgrad the dy @ B_t shrink
    accumulators = (
        layer.c_out * (layer.depth + 1) + layer.num_tasks * layer.rank * (layer.depth + layer.c_out)
    ) * ACC_BYTES
    projections = 4.0 * layer.num_tasks * layer.rank * layer.c_out * layer.depth
    return FormCost(
        (
            Kernel(
                "forward",
                layer.base_flops + out_tiles * layer.shrink_flops + layer.expand_flops,
                layer.x_bytes + layer.weight_bytes + layer.expert_bytes + layer.y_bytes,
            ),
            Kernel("zero accumulators", 0.0, accumulators, True),
            Kernel(
                "input gradient",
                layer.base_flops + in_tiles * layer.expand_flops + layer.shrink_flops,
                layer.y_bytes + layer.weight_bytes + layer.expert_bytes + layer.x_bytes,
                True,
            ),
            Kernel(
                "weight gradients",
                layer.base_flops + projections,
                layer.y_bytes + layer.x_bytes + layer.expert_bytes + 2 * accumulators,
                True,
            ),
        )
    )


def split(layer: ConvLayer) -> FormCost:
    """The split form (``split.py``): the plain conv and its backward, and the branch kernels."""
    base_forward, base_backward = plain(layer).kernels
    return FormCost(
        (
            base_forward,
            Kernel("shrink x", layer.shrink_flops, layer.x_bytes + layer.branch_bytes),
            Kernel("expand into y", layer.expand_flops, layer.branch_bytes + 2 * layer.y_bytes),
            base_backward,
            Kernel(
                "shrink dy (and zero dA, dB)",
                layer.expand_flops,
                layer.y_bytes + layer.branch_bytes,
                True,
            ),
            Kernel(
                "expand into dx", layer.shrink_flops, layer.branch_bytes + 2 * layer.x_bytes, True
            ),
            Kernel("dA", layer.shrink_flops, layer.branch_bytes + layer.x_bytes, True),
            Kernel("shrink x again", layer.shrink_flops, layer.x_bytes + layer.branch_bytes, True),
            Kernel("dB", layer.expand_flops, layer.y_bytes + layer.branch_bytes, True),
        )
    )


FORMS = {"fused": fused, "split": split}


def form_costs(layer: ConvLayer) -> Dict[str, FormCost]:
    """Forward + backward cost of each form (and of the plain layer, for reference)."""
    return {"plain": plain(layer), **{name: cost(layer) for name, cost in FORMS.items()}}


def cheapest_form(layer: ConvLayer, gpu: Gpu = H100) -> str:
    """The form the triton backend's ``auto`` runs without measuring (module docstring)."""
    if layer.groups == 1:
        return "split"
    costs = {name: cost(layer).seconds(gpu) for name, cost in FORMS.items()}
    return min(costs, key=costs.__getitem__)


def table_rows(layers: Sequence[Tuple[str, ConvLayer]], gpu: Gpu = H100) -> List[dict]:
    """One row per (layer, form): FLOPs, bytes, launches and the roofline estimate."""
    rows = []
    for name, layer in layers:
        for form, cost in form_costs(layer).items():
            rows.append(
                {
                    "layer": name,
                    "form": form,
                    "launches": cost.launches,
                    "gflops": cost.flops / 1e9,
                    "mbytes": cost.bytes / 1e6,
                    "estimate_us": cost.seconds(gpu) * 1e6,
                    "chosen": form == cheapest_form(layer, gpu),
                }
            )
    return rows
