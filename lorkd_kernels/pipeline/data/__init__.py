"""Multi-task medical image data: MedMNIST files, RadImageNet, image folders and a built-in
synthetic benchmark.

    from lorkd_kernels.pipeline.data import load_tasks, TaskBalancedSampler
    train = load_tasks("synthetic", "data/synthetic", None, "train")
    loader = DataLoader(train, batch_size=64, sampler=TaskBalancedSampler(train))
    for images, labels, task_ids in loader: ...
"""

from __future__ import annotations

from .arrays import SplitArrays
from .datasets import BaseTaskDataset, MultiTaskDataset, TaskDataset, to_model_input
from .errors import DataError
from .file_list import FileListDataset
from .folders import IMAGE_SUFFIXES, folder_class_names, folder_tasks, load_image_folder
from .labels import decode_multilabel, encode_multilabel
from .medmnist import load_medmnist, medmnist_file, read_npz_split
from .radimagenet import load_radimagenet
from .radimagenet_tasks import RADIMAGENET_CLASSES, RADIMAGENET_TASKS
from .sampling import TaskBalancedSampler
from .sources import SOURCES, load_tasks
from .synthetic import (
    SYNTHETIC_TASKS,
    ensure_synthetic_benchmark,
    make_synthetic_benchmark,
    synthetic_parameters,
)
from .tasks import (
    MEDMNIST_2D_TASKS,
    MEDMNIST_3D_TASKS,
    MEDMNIST_SIZES,
    MEDMNIST_TASKS,
    MULTILABEL_TASKS,
    SPLITS,
)

__all__ = [
    "DataError",
    "SplitArrays",
    "TaskDataset",
    "MultiTaskDataset",
    "TaskBalancedSampler",
    "load_tasks",
    "load_medmnist",
    "medmnist_file",
    "read_npz_split",
    "load_image_folder",
    "folder_tasks",
    "folder_class_names",
    "make_synthetic_benchmark",
    "ensure_synthetic_benchmark",
    "synthetic_parameters",
    "to_model_input",
    "MEDMNIST_TASKS",
    "MEDMNIST_SIZES",
    "SYNTHETIC_TASKS",
    "SOURCES",
    "SPLITS",
    "IMAGE_SUFFIXES",
    "BaseTaskDataset",
    "FileListDataset",
    "load_radimagenet",
    "RADIMAGENET_TASKS",
    "RADIMAGENET_CLASSES",
    "MEDMNIST_2D_TASKS",
    "MEDMNIST_3D_TASKS",
    "MULTILABEL_TASKS",
    "encode_multilabel",
    "decode_multilabel",
]
