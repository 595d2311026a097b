import json

import pytest

from lorkd_kernels.pipeline.comparison import grid, report
from lorkd_kernels.pipeline.comparison import runner
from lorkd_kernels.pipeline.comparison.runner import Comparison, ComparisonError

KEY = "lorkd|seed=1|lr=0.01"
RECORDED = {"tissue": {"accuracy": 0.25, "auc": 0.5}, "blood": {"accuracy": 0.75, "auc": 0.9}}


def _comparison(tmp_path, trained, machine=None):
    """A comparison holding run KEY, recorded on ``machine`` (default: this one)."""

    def train(flags):
        trained.append(flags)
        return 0

    comparison = Comparison(tmp_path, grid.QUICK, train=train, command="test")
    comparison.record["machine"] = runner._machine() if machine is None else machine
    comparison.record["commit"] = runner._commit()
    comparison.record["runs"][KEY] = {"row": "lorkd", "seed": 1, "lr": 0.01, "test": RECORDED}
    return comparison


@pytest.mark.parametrize("recorded", [1, None])  # None: a record that predates the field
def test_a_run_of_another_benchmark_version_is_refused_before_training(tmp_path, recorded):
    trained = []
    comparison = _comparison(tmp_path, trained)
    if recorded is None:
        del comparison.record["synthetic_generator"]
    else:
        comparison.record["synthetic_generator"] = recorded
    with pytest.raises(ComparisonError, match="version 1 of the synthetic benchmark"):
        comparison.reproduce(KEY, _evaluate_with(RECORDED))
    # nor is the grid resumed on top of it: its runs would be mixed with other images'
    with pytest.raises(ComparisonError, match="resuming the comparison: .* version 1"):
        comparison.run_all()
    assert trained == []


def _other_machine():
    return {**runner._machine(), "processor": "Another CPU", "cpu_capability": "AVX2"}


def _evaluate_with(numbers):
    def evaluate(argv):
        out = argv[argv.index("--out") + 1]
        tasks = {task: {"expert": metrics} for task, metrics in numbers.items()}
        with open(out, "w") as handle:
            json.dump({"tasks": tasks}, handle)
        return 0

    return evaluate


def test_reproduce_trains_the_run_with_the_grids_flags_and_checks_every_number(tmp_path):
    trained = []
    comparison = _comparison(tmp_path, trained)
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    result = comparison.reproduce(KEY, _evaluate_with(RECORDED))
    run = grid.Run(grid.ROWS[0], 1, 0.01)
    expected = comparison._flags(run, tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01")
    assert trained == [expected]
    assert result["exact"]
    pair = result["tasks"]["blood"]
    assert pair == {"recorded": RECORDED["blood"], "reproduced": RECORDED["blood"]}
    table = report.reproduction_table(KEY, result, comparison.record["machine"])
    assert "| blood | 0.750000 | 0.750000 | 0.900000 | 0.900000 |" in table
    assert "reproduced exactly" in table


def test_a_number_that_differs_is_an_error_naming_the_task(tmp_path):
    comparison = _comparison(tmp_path, [])
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    changed = {**RECORDED, "tissue": {"accuracy": 0.25, "auc": 0.51}}
    with pytest.raises(ComparisonError, match=r"\['tissue'\] differ"):
        comparison.reproduce(KEY, _evaluate_with(changed))


@pytest.mark.parametrize(
    "recorded_on",
    [_other_machine, lambda: {"processor": "unknown", "cpus": 2}, lambda: {}],
    ids=["another_cpu", "unknown_cpu", "no_record"],
)
def test_on_another_machine_numbers_within_the_tolerance_pass_and_are_said_to(
    tmp_path, recorded_on
):
    comparison = _comparison(tmp_path, [], machine=recorded_on())
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    near = runner.CROSS_MACHINE_TOLERANCE * 0.9
    rerun = {**RECORDED, "tissue": {"accuracy": 0.25 + near, "auc": 0.5 - near}}
    result = comparison.reproduce(KEY, _evaluate_with(rerun))
    assert not result["exact"]
    table = report.reproduction_table(KEY, result, comparison.record["machine"])
    assert f"within {runner.CROSS_MACHINE_TOLERANCE} of the record" in table
    assert "the bits need not repeat here: another processor" in table


def test_on_another_machine_numbers_beyond_the_tolerance_are_an_error(tmp_path):
    comparison = _comparison(tmp_path, [], machine=_other_machine())
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    far = runner.CROSS_MACHINE_TOLERANCE * 1.5
    rerun = {**RECORDED, "blood": {"accuracy": 0.75 - far, "auc": 0.9}}
    with pytest.raises(ComparisonError, match=r"\['blood'\] differ by more than"):
        comparison.reproduce(KEY, _evaluate_with(rerun))


def test_the_record_names_what_decides_exact_repetition():
    here = {**runner._machine(), "commit": runner._commit()}
    assert here["processor"] != "" and here["cpu_capability"]
    assert runner.bits_may_differ(here, dict(here)) == []
    fields = ("commit", "processor", "cpu_id", "cpu_capability", "torch", "torch_threads")
    for field in fields:
        assert runner.bits_may_differ({**here, field: "other"}, here) == [field]
        assert runner.bits_may_differ({**here, field: "unknown"}, here) == [field]


def test_a_rerun_at_another_commit_is_judged_by_the_tolerance(tmp_path):
    comparison = _comparison(tmp_path, [])
    comparison.record["commit"] = "0" * 40
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    result = comparison.reproduce(KEY, _evaluate_with(RECORDED))
    assert not result["exact"] and result["differs_in"] == ["commit"]


def test_an_unknown_run_is_an_error_naming_it(tmp_path):
    comparison = _comparison(tmp_path, [])
    with pytest.raises(ComparisonError, match="holds no such run"):
        comparison.reproduce("lorkd|seed=9|lr=1", _evaluate_with(RECORDED))


@pytest.mark.parametrize("status", [130, 143])
def test_an_interrupted_training_run_interrupts_the_comparison(tmp_path, status, capsys):
    from lorkd_kernels.pipeline.cli.common import run_command

    comparison = Comparison(tmp_path, grid.QUICK, train=lambda flags: status, command="test")
    code = run_command("compare", comparison.run_all, (ComparisonError, OSError), False)
    assert code == 130
    assert capsys.readouterr().err.strip().endswith("compare: error: interrupted")
