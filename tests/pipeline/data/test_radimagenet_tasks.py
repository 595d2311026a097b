"""RadImageNet's 11 tasks: the released code's class ranges over the 165 global labels."""

from __future__ import annotations

from lorkd_kernels.pipeline.data.radimagenet_tasks import (
    RADIMAGENET_CLASSES,
    RADIMAGENET_TASKS,
    task_ranges,
)


def test_eleven_tasks_whose_class_counts_sum_to_165():
    assert len(RADIMAGENET_TASKS) == 11
    assert list(RADIMAGENET_TASKS.values()) == [6, 28, 2, 13, 18, 14, 9, 25, 26, 10, 14]
    assert sum(RADIMAGENET_TASKS.values()) == RADIMAGENET_CLASSES == 165


def test_ranges_tile_the_global_labels_in_order():
    ranges = list(task_ranges().values())
    assert [r.start for r in ranges] == [0, 6, 34, 36, 49, 67, 81, 90, 115, 141, 151]
    assert [label for r in ranges for label in r] == list(range(165))
    assert all(len(r) == RADIMAGENET_TASKS[name] for name, r in task_ranges().items())
