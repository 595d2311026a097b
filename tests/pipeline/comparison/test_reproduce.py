import json

import pytest

from lorkd_kernels.pipeline.comparison import grid, report
from lorkd_kernels.pipeline.comparison.runner import Comparison, ComparisonError

KEY = "lorkd|seed=1|lr=0.01"
RECORDED = {"tissue": {"accuracy": 0.25, "auc": 0.5}, "blood": {"accuracy": 0.75, "auc": 0.9}}


def _comparison(tmp_path, trained):
    def train(flags):
        trained.append(flags)
        return 0

    comparison = Comparison(tmp_path, grid.QUICK, train=train, command="test")
    comparison.record["runs"][KEY] = {"row": "lorkd", "seed": 1, "lr": 0.01, "test": RECORDED}
    return comparison


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
    pairs = comparison.reproduce(KEY, _evaluate_with(RECORDED))
    run = grid.Run(grid.ROWS[0], 1, 0.01)
    expected = comparison._flags(run, tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01")
    assert trained == [expected]
    assert pairs["blood"] == {"recorded": RECORDED["blood"], "reproduced": RECORDED["blood"]}
    assert "| blood | 0.750000 | 0.750000 | 0.900000 | 0.900000 |" in report.reproduction_table(
        KEY, pairs
    )


def test_a_number_that_differs_is_an_error_naming_the_task(tmp_path):
    comparison = _comparison(tmp_path, [])
    (tmp_path / "reproduced" / "lorkd_seed-1_lr-0.01").mkdir(parents=True)
    changed = {**RECORDED, "tissue": {"accuracy": 0.25, "auc": 0.51}}
    with pytest.raises(ComparisonError, match=r"\['tissue'\] differ"):
        comparison.reproduce(KEY, _evaluate_with(changed))


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
