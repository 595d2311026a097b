"""Shapes on which torch's own CPU convolution (2.13) fails, found by the fuzz tests; every
backend steers around them (see ``lorkd_kernels.backends.aten_conv.conv2d``), so these stay as regression cases."""

from __future__ import annotations

import pytest
import torch

from tests.backends.test_fuzz import CONV_BACKENDS, _assert_matches
from tests.eks_cases import Problem


def _problem(x_shape, w_shape, stride, padding, dilation, seed=0) -> Problem:
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    c_out, k_dim = w_shape[0], w_shape[1] * w_shape[2] * w_shape[3]
    x, weight = rand(*x_shape), rand(*w_shape)
    y = torch.nn.functional.conv2d(x, weight, None, stride, padding, dilation)
    return Problem(x, weight, rand(c_out), rand(2, 2, k_dim), rand(2, c_out, 2),
                   torch.tensor([1, 0, 1][:x_shape[0]]), rand(*y.shape),
                   (list(stride), list(padding), list(dilation), 1, 0.5))


CASES = {
    # bfloat16, unequal strides: wrong forward values
    "bf16-stride-1x2": (torch.bfloat16, _problem((2, 2, 7, 5), (2, 2, 2, 4), (1, 2), (0, 0),
                                                 (1, 1))),
    # bfloat16, unequal strides: garbage in the weight gradient where it should be zero
    "bf16-stride-1x3-grad": (torch.bfloat16, _problem((1, 1, 1, 2), (2, 1, 1, 4), (1, 3),
                                                      (0, 1), (1, 1))),
    # bfloat16, equal strides: garbage in the weight gradient of a column that meets only padding
    "bf16-stride-2-grad": (torch.bfloat16, _problem((1, 1, 1, 1), (1, 1, 1, 2), (2, 2), (0, 1),
                                                    (1, 1))),
    # float16, dilation along a kernel dimension of size 1: segfault
    "fp16-dilated-1-wide-kernel": (torch.float16, _problem((1, 1, 7, 1), (3, 1, 3, 1), (3, 2),
                                                           (2, 1), (2, 2))),
}


@pytest.mark.parametrize("backend", sorted(CONV_BACKENDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_backend_survives_torch_fault(case, backend):
    dtype, problem = CASES[case]
    fwd, bwd = CONV_BACKENDS[backend]
    _assert_matches(problem, "conv", fwd, bwd, dtype)
