"""The cpu backend's conv algorithm chosen by measurement: the table of choices, its file, the
environment switches (lorkd_kernels/backends/measured.py, csrc/cpu/strategy.cpp). The results
under measuring are checked against the float64 reference in test_kernels.py (cpu-measured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from lorkd_kernels import EKSConv2d, backends
from lorkd_kernels.backends import conv_strategy, measured, triton_choices

pytestmark = pytest.mark.skipif(
    not backends.compiled_loaded(), reason="measured choices belong to the compiled cpu backend"
)


@pytest.fixture(autouse=True)
def fresh_table():
    measured.clear_choices()
    yield
    measured.clear_choices()


def _layer(groups=1, channels=8):
    torch.manual_seed(0)
    return EKSConv2d(channels, channels, 3, padding=1, groups=groups, num_tasks=3, rank=2)


def _batch(task_ids, channels=8):
    return torch.randn(len(task_ids), channels, 10, 9), torch.tensor(task_ids)


def _column(name):
    return measured.COLUMNS.index(name)


def test_off_by_default_and_nothing_is_recorded():
    layer = _layer()
    x, t = _batch([0, 1, 2, 0])
    layer(x, t).sum().backward()
    assert len(measured.choices()) == 0


def test_each_key_is_measured_once_and_the_table_describes_the_call():
    layer = _layer()
    x, t = _batch([0, 0, 1, 2, 2])
    with measured.measuring():
        for _ in range(3):
            layer(x.requires_grad_(), t).sum().backward()
    table = measured.choices()
    assert table.shape == (2, len(measured.COLUMNS))  # one forward, one backward key
    forward = table[table[:, _column("direction")] == 0][0]
    assert forward[_column("batch")] == 5 and forward[_column("in_channels")] == 8
    assert (forward[_column("height")], forward[_column("width")]) == (10, 9)
    assert (forward[_column("kernel_h")], forward[_column("task_runs")]) == (3, 3)
    assert forward[_column("sorted")] == 1
    assert 0 <= forward[_column("path")] < len(measured.paths())
    # another task mix (unsorted, two runs) is another key
    with measured.measuring():
        layer(*_batch([2, 0, 2, 0]))
    assert len(measured.choices()) == 3


def test_once_measured_every_call_gives_the_same_bits():
    layer = _layer(groups=2)
    x, t = _batch([2, 0, 0, 1, 2])
    with measured.measuring():
        layer(x, t)  # measured here
        first = layer(x.requires_grad_(), t)
        first.sum().backward()
        grad = x.grad.clone()
        for _ in range(2):
            x.grad = None
            again = layer(x, t)
            again.sum().backward()
            assert torch.equal(again, first) and torch.equal(x.grad, grad)


def test_a_forced_strategy_is_not_measured():
    layer = _layer()
    with measured.measuring(), conv_strategy("split"):
        layer(*_batch([0, 1]))
    assert len(measured.choices()) == 0


def _ran_baddbmm(layer, x, t):
    """Whether the forward ran the split form (its expand is an in-place baddbmm; the merged forms
    run convolutions only)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        layer(x, t)
    return any(e.key.startswith("aten::baddbmm") for e in prof.key_averages())


@pytest.mark.parametrize("path", [0, 1])
def test_a_loaded_choice_decides_the_path(tmp_path, path):
    layer = _layer()
    x, t = _batch([0, 1, 1, 2])
    with measured.measuring():
        layer(x, t)
    table = measured.choices()
    table[:, -1] = path  # 0 split, 1 merged per task
    rows = table.tolist()
    file = tmp_path / "choices.json"
    format_1, version_1 = measured.FORMAT_1  # the earlier file, the cpu table alone
    file.write_text(
        json.dumps(
            {
                "format": format_1,
                "version": version_1,
                "columns": list(measured.COLUMNS),
                "rows": rows,
            }
        )
    )
    measured.clear_choices()
    assert measured.load_choices(file) == 1
    with measured.measuring():
        assert _ran_baddbmm(layer, x, t) == (path == 0)
    assert len(measured.choices()) == 1  # nothing measured again


def test_save_and_load_round_trip(tmp_path):
    layer = _layer(groups=8)
    with measured.measuring():
        layer(*_batch([0, 1, 2, 2])).sum().backward()
    saved = measured.choices()
    file = tmp_path / "sub" / "choices.json"
    assert measured.save_choices(file) == len(saved) == 2
    measured.clear_choices()
    assert measured.load_choices(file) == 2
    assert torch.equal(measured.choices(), saved)


@pytest.mark.parametrize(
    "content,message",
    [
        ("not json", "not a file of measured conv choices"),
        ('{"format": "other"}', "not a file of measured conv choices"),
        ('{"format": "lorkd-cpu-conv-choices", "version": 99}', "another version"),
        (
            '{"format": "lorkd-cpu-conv-choices", "version": 1, "columns": COLUMNS, '
            '"rows": [[1, 2]]}',
            "malformed rows",
        ),
        (
            '{"format": "lorkd-cpu-conv-choices", "version": 1, "columns": COLUMNS, '
            '"rows": [ROW9]}',
            "malformed rows",
        ),
        (
            '{"format": "lorkd-conv-choices", "version": 2, "cpu": {"columns": COLUMNS, '
            '"rows": []}',
            "not a file of measured conv choices",
        ),  # cut short
        (
            '{"format": "lorkd-conv-choices", "version": 2, "cpu": {"columns": COLUMNS, '
            '"rows": []}}',
            "the triton table of measured conv choices has other columns",
        ),
        (
            '{"format": "lorkd-conv-choices", "version": 2, "cpu": {"columns": COLUMNS, '
            '"rows": []}, '
            '"triton": {"columns": TRITON, "rows": [TRITON_ROW]}}',
            r"malformed rows .*\(triton\)",
        ),
        ('{"format": "lorkd-conv-choices", "version": 3}', "another version"),
    ],
)
def test_a_bad_file_is_an_error_naming_it_and_loads_nothing(tmp_path, content, message):
    file = tmp_path / "choices.json"
    columns = json.dumps(list(measured.COLUMNS))
    row9 = json.dumps([0] * (len(measured.COLUMNS) - 1) + [9])
    triton_row = json.dumps([0] * (len(triton_choices.COLUMNS) - 1) + ["cudnn"])
    file.write_text(
        content.replace("COLUMNS", columns)
        .replace("ROW9", row9)
        .replace("TRITON_ROW", triton_row)
        .replace("TRITON", json.dumps(list(triton_choices.COLUMNS)))
    )
    with pytest.raises(measured.StrategyCacheError, match=message) as err:
        measured.load_choices(file)
    assert str(file) in str(err.value)
    assert len(measured.choices()) == 0 and triton_choices.rows() == []


def test_the_kernel_rejects_a_table_of_another_width():
    with pytest.raises(ValueError, match="this version writes"):
        torch.ops.lorkd._cpu_load_measured_table(torch.zeros(1, 5, dtype=torch.int64))


PROBE = """
import torch, lorkd_kernels
from lorkd_kernels.backends import measured
print(len(measured.choices()))
layer = lorkd_kernels.EKSConv2d(4, 4, 3, padding=1, num_tasks=2, rank=2)
layer(torch.randn(3, 4, 6, 6), torch.tensor([0, 1, 1]))
print(len(measured.choices()))
"""


def test_environment_switches_measure_and_keep_the_choices_in_a_file(tmp_path):
    file = tmp_path / "choices.json"
    env = dict(os.environ, LORKD_MEASURE="1", LORKD_STRATEGY_CACHE=str(file))
    env.pop("LORKD_BACKEND", None)
    first = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["0", "1"]
    saved = json.loads(file.read_text())
    assert (len(saved["cpu"]["rows"]), saved["triton"]["rows"]) == (1, [])
    second = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert second.stdout.split() == ["1", "1"]  # loaded, and nothing new measured
