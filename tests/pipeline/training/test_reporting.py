"""The epoch log reads as one run even when a resumed run repeats epochs."""

from __future__ import annotations

import csv

from lorkd_kernels.pipeline.training.reporting import EpochLog


def _row(stage, epoch, loss):
    return {
        "stage": stage,
        "epoch": epoch,
        "loss": loss,
        "ce": loss,
        "kd": 0.0,
        "train_acc": 0.5,
        "lr": 0.01,
        "seconds": 1.0,
    }


def test_a_repeated_epoch_replaces_the_rows_of_the_first_attempt(tmp_path):
    log = EpochLog(tmp_path, tensorboard=False)
    for row in [
        _row("teacher", 1, 1.0),
        _row("student", 1, 2.0),
        _row("student", 2, 3.0),
        _row("student", 3, 4.0),
        # resumed from the student's epoch-1 checkpoint: epochs 2 and 3 again
        _row("student", 2, 5.0),
    ]:
        log(row)
    with (tmp_path / "epochs.csv").open(newline="") as handle:
        rows = [(r["stage"], r["epoch"], r["loss"]) for r in csv.DictReader(handle)]
    assert rows == [("teacher", "1", "1.0"), ("student", "1", "2.0"), ("student", "2", "5.0")]


def test_the_table_marks_multilabel_tasks_and_says_what_their_metrics_mean():
    from lorkd_kernels.pipeline.training.reporting import MULTILABEL_NOTE, format_table, summarize

    metrics = {"accuracy": 0.5, "auc": 0.75, "samples": 4}
    results = {"organ": {"expert": metrics}, "chest": {"expert": metrics}}
    table = format_table(summarize("lorkd", results, multilabel_tasks=["chest"]))
    assert "| chest (multi-label) | 4 |" in table and "| organ | 4 |" in table
    assert MULTILABEL_NOTE in table
    plain = summarize("lorkd", results)
    assert "multilabel_tasks" not in plain and MULTILABEL_NOTE not in format_table(plain)
