import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lorkd_kernels.pipeline.comparison import stats
from .records import TASKS, random_record


@pytest.mark.parametrize("seed", range(5))
def test_paired_difference_is_students_t_over_the_pairs(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.7, 0.05, 18), rng.normal(0.68, 0.05, 18)
    result = stats.paired_difference(a - b)
    expected = scipy_stats.ttest_rel(a, b)
    assert result["p"] == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval(0.95)
    assert result["ci95"] == pytest.approx([low, high])
    assert result["mean"] == pytest.approx(float(np.mean(a - b)))


def test_verdict_follows_the_interval():
    assert stats.verdict({"ci95": [0.01, 0.03]}) == "ahead"
    assert stats.verdict({"ci95": [-0.03, -0.01]}) == "behind"
    assert stats.verdict({"ci95": [-0.01, 0.03]}) == "within noise"


def test_identical_rows_differ_by_exactly_nothing():
    result = stats.paired_difference([0.0] * 6, [0, 0, 1, 1, 2, 2])
    assert result["mean"] == 0 and result["ci95"] == [0, 0] and math.isnan(result["p"])
    assert result["per_seed"] == {"0": 0.0, "1": 0.0, "2": 0.0}


def test_row_summary_is_mean_and_sample_std_over_seeds():
    record = random_record()
    entries = stats.final_entries(record, "mtl")
    assert [e["seed"] for e in entries] == [0, 1, 2]
    summary = stats.row_summary(entries)
    for task in TASKS:
        values = [e["test"][task]["accuracy"] for e in entries]
        assert summary["tasks"][task]["accuracy"]["mean"] == pytest.approx(np.mean(values))
        assert summary["tasks"][task]["accuracy"]["std"] == pytest.approx(np.std(values, ddof=1))
    per_seed = [np.mean([e["test"][t]["auc"] for t in TASKS]) for e in entries]
    assert summary["mean"]["auc"]["mean"] == pytest.approx(np.mean(per_seed))


def test_comparison_pairs_each_seed_and_task_once():
    record = random_record(1)
    result = stats.compare_rows(record, "lorkd", "stl")
    a, b = stats.final_entries(record, "lorkd"), stats.final_entries(record, "stl")
    diffs = [
        x["test"][t]["accuracy"] - y["test"][t]["accuracy"] for x, y in zip(a, b) for t in TASKS
    ]
    assert result["n"] == 9
    assert result["mean"] == pytest.approx(np.mean(diffs))
    assert result["per_seed"]["2"] == pytest.approx(np.mean(diffs[6:]))


def test_experts_against_the_teacher_of_their_own_seed():
    record = random_record(2)
    versus = stats.experts_vs_teacher(record)
    entries = stats.final_entries(record, "lorkd")
    diffs = [
        e["test"]["chest"]["accuracy"] - e["teacher_test"]["chest"]["accuracy"] for e in entries
    ]
    assert versus["tasks"]["chest"]["mean"] == pytest.approx(np.mean(diffs))
    assert versus["all"]["n"] == 9
