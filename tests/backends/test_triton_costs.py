"""The triton backend's counted cost model (``lorkd_kernels/backends/triton/costs.py``): its
counts follow from the geometry, and it sends grouped convs to their cheaper form."""

from __future__ import annotations

import pytest

costs = pytest.importorskip("lorkd_kernels.backends.triton.costs")


def _layer(groups=1, c=64, size=14, kernel=3, batch=32, rank=4, tasks=10, element=2):
    return costs.ConvLayer(
        batch, c, c, groups, (size, size), (size, size), (kernel, kernel), rank, tasks, element
    )


def test_the_plain_layer_is_counted_from_its_geometry():
    layer = _layer()
    forward, backward = costs.plain(layer).kernels
    assert forward.flops == 2 * 32 * 14 * 14 * 64 * (64 * 9)
    assert forward.bytes == 2 * (2 * 32 * 64 * 14 * 14) + 2 * 64 * 64 * 9
    assert backward.flops == 2 * forward.flops


def test_each_form_adds_work_to_the_plain_layer_and_counts_its_launches():
    layer = _layer()
    every = costs.form_costs(layer)
    for form in ("fused", "split"):
        assert every[form].flops > every["plain"].flops
        assert every[form].bytes >= every["plain"].bytes
    assert [every[f].launches_of(False) for f in ("fused", "split")] == [1, 3]
    assert [every[f].launches_of(True) for f in ("fused", "split")] == [3, 6]
    # split's rank-r intermediates: (N, groups * r, H, W) in fp32, written and read
    branch = 32 * 1 * 4 * 14 * 14 * costs.ACC_BYTES
    assert layer.branch_bytes == branch


def test_a_depthwise_conv_runs_fused_and_a_dense_one_split():
    """A depthwise conv's u and v have r times the output's channels: the split form moves
    several times the plain layer's bytes, the fused one about as many."""
    depthwise = _layer(groups=64)
    every = costs.form_costs(depthwise)
    assert every["split"].bytes > 5 * every["plain"].bytes
    assert every["fused"].bytes < 1.1 * every["plain"].bytes
    assert costs.cheapest_form(depthwise) == "fused"
    assert costs.cheapest_form(_layer(groups=1)) == "split"


def test_the_estimate_is_a_roofline_plus_launches():
    kernel = costs.Kernel("k", flops=989e12 * 1e-6, bytes=3.35e12 * 2e-6)
    assert kernel.seconds(costs.H100) == pytest.approx(2e-6 + 5e-6)
    assert costs.FormCost((kernel, kernel)).seconds() == pytest.approx(14e-6)


@pytest.mark.parametrize(
    "precision, peak, fma_ranks",
    [
        ("strict fp32 or fp64 (CUDA cores)", None, range(1, 9)),
        ("tf32", costs.H100.tf32_flops, (1, 2)),
        ("bf16", costs.H100.peak_flops, (1,)),
    ],
)
def test_small_ranks_multiply_and_add_where_padding_costs_more(precision, peak, fma_ranks):
    """The rank's arithmetic is the one with fewer counted seconds: a dot pads the rank to 16
    and runs at its peak; the multiply-adds pad to a power of two on the CUDA cores."""
    from lorkd_kernels.backends.triton import configs

    for rank in range(1, 33):
        chosen = costs.rank_arithmetic(rank, peak)
        seconds = {
            kind: configs.rank_block(rank, kind) / (rate or costs.H100.fma_flops)
            for kind, rate in (("dot", peak), ("fma", costs.H100.fma_flops))
        }
        assert (chosen == "fma") == (rank in fma_ranks), (precision, rank)
        if rank < configs.MIN_DOT:
            assert seconds[chosen] <= min(seconds.values()), (precision, rank)
    assert configs.rank_block(4, "fma") == 4 and configs.rank_block(4, "dot") == 16


def test_the_counted_flops_follow_the_chosen_arithmetic():
    """bf16 and TF32 dots pad rank 4 to 16; rank 2 in fp32 (TF32) multiplies and adds at 2."""
    assert _layer(rank=4, element=2).padded_rank == 16
    assert _layer(rank=4, element=4).padded_rank == 16
    assert _layer(rank=2, element=4).padded_rank == 2
    assert _layer(rank=1, element=2).padded_rank == 1
