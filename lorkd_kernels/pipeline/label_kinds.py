"""Which tasks of a data set are multi-label (several yes/no labels per sample, e.g.
ChestMNIST) and which single-label (one class per sample)."""

from __future__ import annotations

from typing import List


def multilabel_flags(dataset) -> List[bool]:
    """Per task of a ``MultiTaskDataset``, whether its labels are multi-label bitmasks
    (``data/labels.py``). A data set that does not say holds single-label tasks only."""
    flags = getattr(dataset, "multilabel", None)
    if flags is None:
        return [False] * dataset.num_tasks
    flags = [bool(flag) for flag in flags]
    if len(flags) != dataset.num_tasks:
        raise ValueError(
            f"the data set marks {len(flags)} tasks as multi-label or not, but "
            f"has {dataset.num_tasks}"
        )
    return flags


def multilabel_tasks(dataset) -> List[str]:
    """The names of a ``MultiTaskDataset``'s multi-label tasks."""
    return [name for name, flag in zip(dataset.task_names, multilabel_flags(dataset)) if flag]
