"""Multi-label targets as int64 bit codes: exact round trips and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lorkd_kernels.pipeline.data.labels import MAX_LABELS, decode_multilabel, encode_multilabel


@pytest.mark.parametrize("num_classes", [1, 14, MAX_LABELS])
def test_round_trip(num_classes):
    rng = np.random.default_rng(num_classes)
    matrix = (rng.random((50, num_classes)) < 0.4).astype(np.uint8)
    matrix[0] = 1  # every bit set, the top one included
    matrix[1] = 0
    codes = encode_multilabel(matrix)
    assert codes.dtype == np.int64 and codes.shape == (50,) and (codes >= 0).all()
    decoded = decode_multilabel(torch.from_numpy(codes), num_classes)
    assert decoded.dtype == torch.float32 and decoded.shape == (50, num_classes)
    np.testing.assert_array_equal(decoded.numpy(), matrix)


def test_bit_c_is_label_c():
    assert encode_multilabel(np.array([[1, 0, 0], [0, 0, 1], [1, 1, 0]])).tolist() == [1, 4, 3]


@pytest.mark.parametrize(
    "matrix, match",
    [
        (np.zeros(4), r"\(N, C\)"),
        (np.array([[0, 2]]), "only 0 and 1"),
        (np.zeros((2, MAX_LABELS + 1)), "do not fit"),
    ],
)
def test_refuses_what_cannot_be_a_code(matrix, match):
    with pytest.raises(ValueError, match=match):
        encode_multilabel(matrix)
