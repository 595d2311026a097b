from lorkd_kernels.pipeline.comparison import grid
from lorkd_kernels.pipeline.comparison.runner import Comparison


def test_the_learning_rate_search_runs_only_tuned_rows_on_the_first_seed():
    runs = grid.selection_runs(grid.FULL)
    assert {r.seed for r in runs} == {grid.FULL.seeds[0]}
    assert {r.row.name for r in runs} == {"lorkd", "mtl-kd", "mtl", "stl-kd", "stl"}
    assert len(runs) == 5 * len(grid.FULL.lrs)


def test_every_row_runs_every_seed_at_its_chosen_learning_rate():
    chosen = {"lorkd": 0.03, "mtl-kd": 0.01, "mtl": 0.003, "stl-kd": 0.01, "stl": 0.003}
    runs = grid.final_runs(grid.FULL, chosen)
    assert len(runs) == len(grid.ROWS) * len(grid.FULL.seeds)
    for run in runs:
        source = run.row.lr_from or run.row.name
        assert run.lr == chosen[source]
    ablations = [run for run in runs if run.row.ablation]
    assert ablations and all(run.lr == 0.03 for run in ablations)


def test_stl_at_equal_steps_trains_t_times_the_epochs(tmp_path):
    comparison = Comparison(tmp_path, grid.FULL, train=lambda flags: 0, command="test")
    stl_steps = next(r for r in grid.ROWS if r.name == "stl-steps")
    flags = comparison._flags(grid.Run(stl_steps, 0, 0.01), tmp_path / "run")
    epochs = int(flags[flags.index("--epochs") + 1])
    assert epochs == grid.FULL.epochs * grid.FULL.task_count() == grid.FULL.epochs * 6
    assert flags[flags.index("--method") + 1] == "stl"


def test_learning_rates_are_chosen_on_validation_never_on_test(tmp_path, monkeypatch):
    budget = grid.Budget(lrs=(0.01, 0.03))
    comparison = Comparison(tmp_path, budget, train=lambda flags: 0, command="test")

    def execute(run):  # validation prefers 0.01, test prefers 0.03
        val = 0.7 if run.lr == 0.01 else 0.5
        test = 0.5 if run.lr == 0.01 else 0.9
        return {"val": {"t": {"accuracy": val}}, "test": {"t": {"accuracy": test}}}

    monkeypatch.setattr(comparison, "execute", execute)
    chosen = comparison.select_learning_rates()
    assert set(chosen.values()) == {0.01}
    assert comparison.record["selection"]["scores"]["lorkd"] == {"0.01": 0.7, "0.03": 0.5}
