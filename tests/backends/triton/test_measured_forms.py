"""The triton strategy ``auto``: with measuring on, each conv key's first call times the fused
and split forms and later calls reuse the faster (backends/triton_choices.py); with measuring
off it runs the counted cost model's form (split for a dense conv, fused for a depthwise one).
Results against the float64 reference; the choice logic with fake forms and
a fake clock that decide which form "is faster"."""

from __future__ import annotations

import pytest
import torch

from lorkd_kernels import backends
from lorkd_kernels.backends import host_checks, measured, timing, triton_choices, triton_strategy
from tests.backends.triton.checks import check_against_reference
from tests.eks_cases import CONV_CASES, conv_problem

RUNS_TO_MEASURE = 1 + timing.TIMED_RUNS  # warm-up and timed runs of each form


@pytest.fixture(scope="module")
def backend():
    from lorkd_kernels.backends import triton

    return triton


@pytest.fixture(autouse=True)
def auto_and_a_fresh_table():
    triton_choices.clear_choices()
    with triton_strategy("auto"):
        yield
    triton_choices.clear_choices()


def _column(name):
    return triton_choices.COLUMNS.index(name)


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 7)], ids=str)  # 3x3, groups2
def test_measured_results_match_the_reference(backend, case, record_error):
    problem = conv_problem(case, seed=21)
    assert problem.absent_tasks(), "the case should leave a task out of the batch"
    with backends.measuring():
        for _ in range(2):  # measured, then the recorded choice
            check_against_reference(
                problem,
                "conv",
                backend.conv2d_forward,
                backend.conv2d_backward,
                torch.float32,
                record_error,
            )
    rows = triton_choices.rows()
    assert sorted(row[_column("direction")] for row in rows) == [0, 1 + 2 + 4 + 8 + 16 + 32]
    assert all(row[-1] in triton_choices.FORMS for row in rows)


class FakeForms:
    """Stand-ins for the fused and split modules: each call advances a fake clock by its form's
    cost and returns a tensor naming the form, so the test sees which form produced a result."""

    CODES = {"fused": 1.0, "split": 2.0}

    def __init__(self, monkeypatch, backend, costs):
        from lorkd_kernels.backends.triton import conv, split

        self.now, self.calls = 0.0, []
        for name, module in (("fused", conv), ("split", split)):
            monkeypatch.setattr(module, "conv2d_forward", self._form(name, costs[name], 1))
            monkeypatch.setattr(module, "conv2d_backward", self._form(name, costs[name], 5))
        monkeypatch.setattr(triton_choices, "clock", lambda: self.now)

    def _form(self, name, cost, outputs):
        def run(*args, **kwargs):
            self.calls.append(name)
            self.now += cost
            marks = tuple(torch.full((1,), self.CODES[name]) for _ in range(outputs))
            return marks[0] if outputs == 1 else marks

        return run

    def made(self, result, name) -> bool:
        return float(result[0]) == self.CODES[name]


def _call(backend, direction, problem):
    x, weight, bias, lora_A, lora_B = problem.tensors(torch.float32)
    if direction == "forward":
        return backend.conv2d_forward(
            x, weight, bias, lora_A, lora_B, problem.task_ids, *problem.config
        )
    return backend.conv2d_backward(
        problem.grad_out.float(),
        x,
        weight,
        lora_A,
        lora_B,
        problem.task_ids,
        *problem.config,
        [True] * 5,
    )[0]


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize(
    "winner,costs",
    [("fused", {"fused": 1.0, "split": 3.0}), ("split", {"fused": 3.0, "split": 1.0})],
)
def test_the_faster_form_is_recorded_once_and_reused(
    backend, monkeypatch, direction, winner, costs
):
    forms = FakeForms(monkeypatch, backend, costs)
    problem = conv_problem(CONV_CASES[3], seed=2)
    with backends.measuring():
        first = _call(backend, direction, problem)
        assert forms.calls == ["fused"] * RUNS_TO_MEASURE + ["split"] * RUNS_TO_MEASURE
        assert forms.made(first, winner)
        for _ in range(2):
            assert forms.made(_call(backend, direction, problem), winner)
    assert forms.calls[2 * RUNS_TO_MEASURE :] == [winner, winner]
    [row] = triton_choices.rows()
    assert row[-1] == winner
    assert (row[_column("direction")] == 0) == (direction == "forward")
    # another task mix is another key, measured again
    with backends.measuring():
        _call(backend, direction, conv_problem(CONV_CASES[12], seed=2))  # one task
    assert len(triton_choices.rows()) == 2


@pytest.mark.parametrize(
    "case, form", [(CONV_CASES[3], "split"), (CONV_CASES[8], "fused")], ids=["dense", "depthwise"]
)
def test_without_measuring_auto_runs_the_cost_models_form_and_records_nothing(
    backend, monkeypatch, case, form
):
    """The timings (fused faster) do not matter: nothing is measured; a dense conv runs split,
    a depthwise one fused (``costs.cheapest_form``)."""
    forms = FakeForms(monkeypatch, backend, {"fused": 1.0, "split": 3.0})
    problem = conv_problem(case, seed=2)
    assert not measured.is_measuring()
    for direction in ("forward", "backward", "forward"):
        assert forms.made(_call(backend, direction, problem), form)
    assert forms.calls == [form] * 3 and triton_choices.rows() == []


@pytest.mark.parametrize("forced", ["fused", "split"])
def test_a_forced_form_is_neither_measured_nor_replaced(backend, monkeypatch, forced):
    forms = FakeForms(monkeypatch, backend, {"fused": 3.0, "split": 3.0})
    with backends.measuring(), triton_strategy(forced):
        _call(backend, "forward", conv_problem(CONV_CASES[3], seed=2))
    assert forms.calls == [forced] and triton_choices.rows() == []


def test_ids_the_host_may_not_read_are_not_measured(backend, monkeypatch):
    forms = FakeForms(monkeypatch, backend, {"fused": 1.0, "split": 3.0})
    with backends.measuring(), host_checks.host_task_id_checks(False):
        assert forms.made(_call(backend, "forward", conv_problem(CONV_CASES[3], seed=2)), "split")
    assert forms.calls == ["split"] and triton_choices.rows() == []


def test_a_loaded_choice_decides_without_measuring_again(backend, monkeypatch, tmp_path):
    if not backends.compiled_loaded():
        pytest.skip("the choices file holds the compiled cpu backend's table too")
    forms = FakeForms(monkeypatch, backend, {"fused": 1.0, "split": 3.0})
    problem = conv_problem(CONV_CASES[3], seed=2)
    with backends.measuring():
        _call(backend, "forward", problem)
    file = tmp_path / "choices.json"
    measured.save_choices(file)
    measured.clear_choices()
    assert measured.load_choices(file) == 1
    forms.calls.clear()
    with backends.measuring():
        assert forms.made(_call(backend, "forward", problem), "fused")
    assert forms.calls == ["fused"]
