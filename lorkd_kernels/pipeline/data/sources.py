"""Builds a :class:`MultiTaskDataset` from a named source: synthetic, MedMNIST or image folders."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .arrays import SplitArrays
from .datasets import MultiTaskDataset, TaskDataset
from .errors import DataError
from .folders import folder_class_names, folder_tasks, load_image_folder
from .medmnist import load_medmnist
from .synthetic import SYNTHETIC_TASKS, ensure_synthetic_benchmark
from .tasks import MEDMNIST_TASKS

SOURCES = ("synthetic", "medmnist", "folder")


def _pick_tasks(tasks: Sequence[str] | None, known: Sequence[str], source: str) -> list[str]:
    if isinstance(tasks, str):
        tasks = [tasks]
    chosen = list(known) if tasks is None else list(tasks)
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise DataError(f"unknown {source} task(s) {unknown}; known tasks: {', '.join(known)}")
    repeated = sorted({t for t in chosen if chosen.count(t) > 1})
    if repeated:
        raise DataError(f"task(s) {repeated} listed more than once")
    if not chosen:
        raise DataError("no tasks to load")
    return chosen


def load_tasks(source: str, root: str | os.PathLike, tasks: Sequence[str] | None = None,
               split: str = "train", image_size: int | None = None, augment: bool = False,
               size: int | None = None, synthetic_options: Mapping[str, Any] | None = None
               ) -> MultiTaskDataset:
    """Load ``split`` of ``tasks`` (all of the source's tasks if None); task ids follow the order.

    ``size`` is the stored image size: it picks ``<task>_<size>.npz`` for MedMNIST, is the size
    folders are read at, and the generated size for the synthetic benchmark (cached in ``root``,
    see :func:`ensure_synthetic_benchmark`, which also takes ``synthetic_options``).
    ``image_size`` is the size the dataset hands to the model.
    """
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; expected one of {list(SOURCES)}")
    if synthetic_options and source != "synthetic":
        raise DataError(f"synthetic_options only apply to the synthetic source, not {source!r}")
    if source == "synthetic":
        names = _pick_tasks(tasks, list(SYNTHETIC_TASKS), source)
        options = dict(synthetic_options or {})
        if size is not None:
            if options.setdefault("image_size", size) != size:
                raise DataError(f"size={size} disagrees with synthetic_options image_size="
                                f"{options['image_size']}")
        ensure_synthetic_benchmark(root, **options)
        classes = [SYNTHETIC_TASKS[t] for t in names]
        splits = [load_medmnist(root, t, split, num_classes=k) for t, k in zip(names, classes)]
    elif source == "medmnist":
        names = _pick_tasks(tasks, list(MEDMNIST_TASKS), source)
        classes = [MEDMNIST_TASKS[t] for t in names]
        splits = [load_medmnist(root, t, split, size=size) for t in names]
    else:
        names = _pick_tasks(tasks, folder_tasks(root), f"image folder ({root})")
        classes = [len(folder_class_names(root, t)) for t in names]
        read_size = size if size is not None else image_size
        splits = [load_image_folder(root, t, split, read_size) for t in names]
    return MultiTaskDataset([_task_dataset(arrays, task_id, name, k, image_size, augment)
                             for task_id, (name, k, arrays)
                             in enumerate(zip(names, classes, splits))], names)


def _task_dataset(arrays: SplitArrays, task_id: int, name: str, num_classes: int,
                  image_size: int | None, augment: bool) -> TaskDataset:
    return TaskDataset(arrays.images, arrays.labels, task_id, image_size=image_size,
                       augment=augment, num_classes=num_classes, name=name)
