"""backends.timing: the loop that picks the fastest candidate (one warm-up, then the best of
TIMED_RUNS timed runs each), decided here by a fake clock."""

from __future__ import annotations

import pytest

from lorkd_kernels.backends import timing


class FakeClock:
    """Time passes only inside a run, by the cost the test gives each candidate."""

    def __init__(self, costs):
        self.now, self.costs, self.calls = 0.0, costs, []

    def __call__(self) -> float:
        return self.now

    def run(self, candidate):
        self.calls.append(candidate)
        self.now += self.costs[candidate]
        return f"result of {candidate} #{self.calls.count(candidate)}"


@pytest.mark.parametrize(
    "costs,winner",
    [({"a": 1.0, "b": 2.0}, "a"), ({"a": 3.0, "b": 0.5}, "b"), ({"a": 1.0, "b": 1.0}, "a")],
)  # a tie: the first
def test_the_least_time_wins_and_its_last_result_is_returned(costs, winner):
    clock = FakeClock(costs)
    best, result = timing.fastest(["a", "b"], clock.run, clock=clock)
    assert best == winner
    assert result == f"result of {winner} #{1 + timing.TIMED_RUNS}"
    assert clock.calls == ["a"] * (1 + timing.TIMED_RUNS) + ["b"] * (1 + timing.TIMED_RUNS)


def test_the_best_timed_run_counts_not_the_warm_up():
    clock = FakeClock({"a": 1.0, "b": 0.5})

    def run(candidate):  # b's warm-up is slow (compilation), its runs fast
        if candidate == "b" and "b" not in clock.calls:
            clock.now += 100.0
        return clock.run(candidate)

    assert timing.fastest(["a", "b"], run, clock=clock)[0] == "b"


def test_sync_brackets_every_timed_run():
    events = []
    timing.fastest(
        ["a"], lambda c: events.append("run"), clock=lambda: 0.0, sync=lambda: events.append("sync")
    )
    assert events == ["run"] + ["sync", "run", "sync"] * timing.TIMED_RUNS


def test_no_candidates_is_an_error():
    with pytest.raises(ValueError, match="at least one candidate"):
        timing.fastest([], lambda c: c)
