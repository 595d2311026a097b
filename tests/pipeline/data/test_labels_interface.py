"""Multi-label targets as int64 bitmasks: the interface the losses and evaluation rely on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lorkd_kernels.pipeline.data.labels import decode_multilabel, encode_multilabel


def test_bitmasks_round_trip_and_set_bit_c_for_label_c():
    matrix = np.random.default_rng(0).integers(0, 2, size=(50, 14))
    codes = encode_multilabel(matrix)
    assert codes.dtype == np.int64 and codes.shape == (50,)
    assert encode_multilabel(np.eye(3, dtype=np.uint8)).tolist() == [1, 2, 4]
    decoded = decode_multilabel(torch.from_numpy(codes), 14)
    assert decoded.dtype == torch.float32
    assert torch.equal(decoded, torch.from_numpy(matrix).float())


def test_decoding_wider_than_the_task_gives_zero_columns():
    codes = torch.from_numpy(encode_multilabel(np.array([[1, 1], [0, 1]])))
    assert decode_multilabel(codes, 4).tolist() == [[1, 1, 0, 0], [0, 1, 0, 0]]


@pytest.mark.parametrize("matrix", [np.array([[0, 2]]), np.zeros(3), np.zeros((1, 64))])
def test_encoding_rejects_what_is_no_0_1_matrix_of_at_most_63_labels(matrix):
    with pytest.raises(ValueError):
        encode_multilabel(matrix)
