"""A tiny multi-task data set with one multi-label task, built in memory for tests.

Task 0 ("organ") is single-label: 3 classes, the image's overall brightness. Task 1 ("chest")
is multi-label: 3 yes/no labels, label c positive when colour channel c is bright. Its labels
are bitmasks (``pipeline/data/labels.py``) and the data set says which task is multi-label the
way the data side does (``TaskDataset.multilabel``, ``MultiTaskDataset.multilabel``).
"""

from __future__ import annotations

import numpy as np

from lorkd_kernels.pipeline.data import MultiTaskDataset, TaskDataset
from lorkd_kernels.pipeline.data.labels import encode_multilabel

TASK_NAMES = ["organ", "chest"]
NUM_CLASSES = [3, 3]
MULTILABEL = [False, True]


def _task(task_id: int, images: np.ndarray, labels: np.ndarray, multilabel: bool) -> TaskDataset:
    dataset = TaskDataset(images, labels, task_id, name=TASK_NAMES[task_id])
    # Bitmask labels are no class indices, so the class count is given, not read off them.
    dataset.num_classes = NUM_CLASSES[task_id]
    dataset.multilabel = multilabel
    return dataset


def multilabel_matrix(samples: int, seed: int) -> np.ndarray:
    """``(samples, 3)`` 0/1 targets of the multi-label task, every label both 0 and 1 somewhere."""
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 2, size=(samples, NUM_CLASSES[1]))
    matrix[0], matrix[1] = 0, 1
    return matrix


def tiny_multilabel_tasks(samples: int = 48, size: int = 16, seed: int = 0) -> MultiTaskDataset:
    rng = np.random.default_rng(seed)
    classes = np.arange(samples) % NUM_CLASSES[0]
    gray = 40 + 80 * classes[:, None, None] + rng.integers(0, 30, (samples, size, size))
    matrix = multilabel_matrix(samples, seed + 1)
    rgb = 30 + 170 * matrix[:, None, None, :] + rng.integers(0, 40, (samples, size, size, 3))
    tasks = MultiTaskDataset(
        [
            _task(0, gray.astype(np.uint8), classes, False),
            _task(1, rgb.astype(np.uint8), encode_multilabel(matrix), True),
        ],
        TASK_NAMES,
    )
    tasks.multilabel = [d.multilabel for d in tasks.datasets]
    return tasks
