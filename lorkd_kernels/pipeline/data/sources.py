"""Builds a :class:`MultiTaskDataset` from a named source: synthetic, MedMNIST, image folders or
RadImageNet."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from .arrays import SplitArrays
from .datasets import MultiTaskDataset, TaskDataset
from .errors import DataError
from .folders import folder_class_names, folder_tasks, load_image_folder
from .medmnist import load_medmnist, unknown_task_message
from .radimagenet import load_radimagenet
from .radimagenet_tasks import RADIMAGENET_TASKS
from .synthetic import SYNTHETIC_TASKS, ensure_synthetic_benchmark
from .tasks import MEDMNIST_2D_TASKS, MEDMNIST_3D_TASKS, MEDMNIST_TASKS, MULTILABEL_TASKS

SOURCES = ("synthetic", "medmnist", "folder", "radimagenet")


def _pick_tasks(
    tasks: Sequence[str] | None,
    known: Sequence[str],
    source: str,
    default: Sequence[str] | None = None,
) -> list[str]:
    """``tasks`` checked against ``known``; None means ``default`` (all known tasks if None)."""
    if isinstance(tasks, str):
        tasks = [tasks]
    chosen = list(default if default is not None else known) if tasks is None else list(tasks)
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise DataError(f"unknown {source} task(s) {unknown}; known tasks: {', '.join(known)}")
    repeated = sorted({t for t in chosen if chosen.count(t) > 1})
    if repeated:
        raise DataError(f"task(s) {repeated} listed more than once")
    if not chosen:
        raise DataError("no tasks to load")
    return chosen


def load_tasks(
    source: str,
    root: str | os.PathLike,
    tasks: Sequence[str] | None = None,
    split: str = "train",
    image_size: int | None = None,
    augment: bool = False,
    size: int | None = None,
    synthetic_options: Mapping[str, Any] | None = None,
    list_files: Mapping[str, str | os.PathLike | None] | None = None,
) -> MultiTaskDataset:
    """Load ``split`` of ``tasks`` (the source's default tasks if None: every task, but the
    paper's ten for MedMNIST); task ids follow the order.

    ``size`` is the stored image size: it picks ``<task>_<size>.npz`` for MedMNIST, is the size
    folders are read at, and the generated size for the synthetic benchmark (cached in ``root``,
    see :func:`ensure_synthetic_benchmark`, which also takes ``synthetic_options``).
    ``image_size`` is the size the dataset hands to the model (RadImageNet: the crop, default
    224). ``list_files`` (keys ``train``, ``test``) names RadImageNet's list files when they are
    not in the root.
    """
    if source not in SOURCES:
        raise DataError(f"unknown data source {source!r}; expected one of {list(SOURCES)}")
    if synthetic_options and source != "synthetic":
        raise DataError(f"synthetic_options only apply to the synthetic source, not {source!r}")
    if list_files and any(list_files.values()) and source != "radimagenet":
        raise DataError(f"list files only apply to the radimagenet source, not {source!r}")
    if source == "radimagenet":
        if size is not None:
            raise DataError(
                f"size={size} does not apply to radimagenet (its images are read "
                "at their own size); image_size sets the crop"
            )
        names = _pick_tasks(tasks, list(RADIMAGENET_TASKS), source)
        return MultiTaskDataset(
            load_radimagenet(root, names, split, image_size, augment, dict(list_files or {})), names
        )
    if source == "synthetic":
        names = _pick_tasks(tasks, list(SYNTHETIC_TASKS), source)
        options = dict(synthetic_options or {})
        if size is not None:
            if options.setdefault("image_size", size) != size:
                raise DataError(
                    f"size={size} disagrees with synthetic_options image_size="
                    f"{options['image_size']}"
                )
        ensure_synthetic_benchmark(root, **options)
        classes = [SYNTHETIC_TASKS[t] for t in names]
        splits = [load_medmnist(root, t, split, num_classes=k) for t, k in zip(names, classes)]
    elif source == "medmnist":
        three_d = [
            t
            for t in ([tasks] if isinstance(tasks, str) else tasks or [])
            if t in MEDMNIST_3D_TASKS
        ]
        if three_d:
            raise DataError(unknown_task_message(three_d[0]))
        names = _pick_tasks(tasks, list(MEDMNIST_2D_TASKS), source, list(MEDMNIST_TASKS))
        classes = [MEDMNIST_2D_TASKS[t] for t in names]
        splits = [load_medmnist(root, t, split, size=size) for t in names]
    else:
        names = _pick_tasks(tasks, folder_tasks(root), f"image folder ({root})")
        classes = [len(folder_class_names(root, t)) for t in names]
        read_size = size if size is not None else image_size
        splits = [load_image_folder(root, t, split, read_size) for t in names]
    multilabel = [source == "medmnist" and t in MULTILABEL_TASKS for t in names]
    return MultiTaskDataset(
        [
            _task_dataset(arrays, task_id, name, k, image_size, augment, multi)
            for task_id, (name, k, arrays, multi) in enumerate(
                zip(names, classes, splits, multilabel)
            )
        ],
        names,
    )


def _task_dataset(
    arrays: SplitArrays,
    task_id: int,
    name: str,
    num_classes: int,
    image_size: int | None,
    augment: bool,
    multilabel: bool,
) -> TaskDataset:
    return TaskDataset(
        arrays.images,
        arrays.labels,
        task_id,
        image_size=image_size,
        augment=augment,
        num_classes=num_classes,
        name=name,
        multilabel=multilabel,
    )
