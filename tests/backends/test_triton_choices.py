"""backends.triton_choices: the key of a triton conv call, the table of measured forms and its
rows as the choices file holds them (no triton needed; the measuring itself is tested under the
interpreter in tests/backends/triton/test_measured_forms.py)."""

from __future__ import annotations

import pytest
import torch

import lorkd_kernels.ops  # noqa: F401  (loads the compiled library)
from lorkd_kernels import backends
from lorkd_kernels.backends import host_checks, measured, triton_choices


@pytest.fixture(autouse=True)
def fresh_table():
    triton_choices.clear_choices()
    yield
    triton_choices.clear_choices()


def _key(task_ids, output_mask=None, channels_last=False, batch=None):
    x = torch.zeros(len(task_ids) if batch is None else batch, 6, 7, 5)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    weight = torch.zeros(4, 3, 3, 1)
    return triton_choices.key_of(
        output_mask, x, weight, torch.tensor(task_ids, dtype=torch.long), [2, 1], [1, 0], [1, 1], 2
    )


def _row(key, form="fused"):
    return dict(zip(triton_choices.COLUMNS, [*key, form]))


def test_the_key_describes_the_call():
    row = _row(_key([0, 0, 2, 1, 1]))
    assert (row["direction"], row["dtype"], row["device"], row["device_index"]) == (
        0,
        "float32",
        "cpu",
        -1,
    )
    assert [row[c] for c in ("batch", "in_channels", "height", "width")] == [5, 6, 7, 5]
    assert [row[c] for c in ("out_channels", "in_channels_per_group", "kernel_h", "kernel_w")] == [
        4,
        3,
        3,
        1,
    ]
    assert [
        row[c]
        for c in (
            "stride_h",
            "stride_w",
            "padding_h",
            "padding_w",
            "dilation_h",
            "dilation_w",
            "groups",
        )
    ] == [2, 1, 1, 0, 1, 1, 2]
    assert (row["task_runs"], row["sorted"], row["channels_last"]) == (3, 0, 0)


def test_task_mix_mask_and_memory_format_are_parts_of_the_key():
    sorted_row = _row(_key([0, 1, 1, 2]))
    assert (sorted_row["task_runs"], sorted_row["sorted"]) == (3, 1)
    assert _key([0, 1, 1, 2]) != _key([1, 0, 2, 2])  # same runs, unsorted
    # unsorted batches with the same tasks present share a key, whatever their order
    assert _key([0, 1, 0, 1, 2]) == _key([1, 0, 2, 2, 1])
    assert _row(_key([0, 1], channels_last=True))["channels_last"] == 1
    forward, backward = _key([0, 1]), _key([0, 1], [True, False, False, True, True])
    assert forward[0] == 0 and backward[0] == 1 + 2 + 16 + 32  # the cpu backend's code
    assert backward != _key([0, 1], [True] * 5)


def test_calls_that_cannot_be_measured_have_no_key():
    assert _key([], batch=0) is None  # an empty batch
    with host_checks.host_task_id_checks(False):  # ids not to be read
        assert _key([0, 1]) is None


def test_rows_round_trip_through_the_choices_file(tmp_path):
    if not backends.compiled_loaded():
        pytest.skip("the choices file holds the compiled cpu backend's table too")
    measured.clear_choices()
    triton_choices.load_rows([[*_key([0, 1]), "fused"], [*_key([1, 1]), "split"]])
    saved = triton_choices.rows()
    assert sorted(row[-1] for row in saved) == ["fused", "split"]
    file = tmp_path / "choices.json"
    assert measured.save_choices(file) == 2
    measured.clear_choices()
    assert triton_choices.rows() == []
    assert measured.load_choices(file) == 2
    assert triton_choices.rows() == saved


@pytest.mark.parametrize(
    "change,why",
    [
        (lambda row: row[:-1], "short"),
        (lambda row: row[:-1] + ["cudnn"], "unknown form"),
        (lambda row: [row[0], "float99", *row[2:]], "unknown dtype"),
        (lambda row: [row[0], "float32", *row[2:4], True, *row[5:]], "a bool for a number"),
        (lambda row: [row[0], "float32", *row[2:4], 2.5, *row[5:]], "a float for a number"),
        (lambda row: [row[0], 32, *row[2:]], "a number for a name"),
    ],
)
def test_malformed_rows_are_recognised(change, why):
    good = [*_key([0, 1]), "split"]
    assert not triton_choices.malformed(good)
    assert triton_choices.malformed(change(good)), why


def test_the_task_mix_of_a_planned_batch_reads_no_ids():
    """The key's task mix comes from the batch's plan: measuring adds no host read per call
    (each would be a device sync on a GPU); unplanned ids are read once."""
    from lorkd_kernels import task_ids_context
    from tests.host_work import count_host_work

    x, weight = torch.zeros(5, 6, 7, 5), torch.zeros(4, 3, 3, 1)
    ids = torch.tensor([0, 0, 2, 1, 1])

    def key(task_ids):
        return triton_choices.key_of(None, x, weight, task_ids, [2, 1], [1, 0], [1, 1], 2)

    with task_ids_context(ids) as planned:
        assert count_host_work(lambda: key(planned)).syncs == 0
        assert key(planned) == key(ids)
    assert count_host_work(lambda: key(ids)).syncs == 1
