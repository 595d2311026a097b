"""Torch datasets over loaded splits: one task (:class:`TaskDataset`) or several concatenated."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import ConcatDataset, Dataset

from .arrays import check_images, check_labels, check_multilabel
from .errors import DataError
from .labels import encode_multilabel

# Convert a task's images to float once up front while that costs at most this much memory;
# bigger sets (e.g. MedMNIST+ at 224×224) convert per item instead.
CACHE_BYTES = 1 << 30
_CHUNK = 1024  # images converted per step, bounding the temporary float copies


def to_model_input(pixels: torch.Tensor, image_size: int | None = None) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 in [-1, 1] (mean 0.5, std 0.5), resized if asked."""
    images = pixels.to(torch.float32).div_(255.0)
    if image_size is not None and tuple(images.shape[-2:]) != (image_size, image_size):
        images = F.interpolate(
            images,
            size=(image_size, image_size),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
    return images.sub_(0.5).div_(0.5)


class BaseTaskDataset(Dataset):
    """What :class:`MultiTaskDataset` needs of one task's samples, however they are stored.

    Subclasses set ``labels`` (int64 ``(N,)``: the class, or a multi-label task's bit codes, see
    :mod:`.labels`), ``num_classes``, ``multilabel`` and ``image_shape`` and yield
    ``(image float32, label int64, task_id int64)``.
    """

    labels: torch.Tensor
    num_classes: int
    multilabel: bool = False
    image_shape: tuple[int, int, int]

    def __init__(self, task_id: int, image_size: int | None, name: str | None) -> None:
        self.name = name if name is not None else f"task{task_id}"
        if not isinstance(task_id, (int, np.integer)) or isinstance(task_id, bool) or task_id < 0:
            raise DataError(f"{self.name}: task_id must be a non-negative integer, got {task_id!r}")
        if image_size is not None and (
            not isinstance(image_size, (int, np.integer)) or image_size < 1
        ):
            raise DataError(
                f"{self.name}: image_size must be a positive integer or None, got {image_size!r}"
            )
        self.task_id = int(task_id)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.labels)


class TaskDataset(BaseTaskDataset):
    """One task's images in memory, yielding ``(image (3, H, W) float32, label int64, task_id)``.

    ``images`` are uint8 ``(N, H, W)`` gray (repeated to 3 channels) or ``(N, H, W, 3)`` RGB.
    ``augment`` adds a random horizontal flip. With ``multilabel``, ``labels`` is an
    ``(N, num_classes)`` matrix of 0/1, stored as one bit code per image
    (:func:`.labels.encode_multilabel`).
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        task_id: int,
        image_size: int | None = None,
        augment: bool = False,
        num_classes: int | None = None,
        name: str | None = None,
        multilabel: bool = False,
    ) -> None:
        super().__init__(task_id, image_size, name)
        images = check_images(np.asarray(images), f"{self.name} images")
        if multilabel:
            if num_classes is None:
                raise DataError(f"{self.name}: a multi-label task needs num_classes")
            matrix = check_multilabel(
                np.asarray(labels), len(images), num_classes, f"{self.name} labels"
            )
            codes = encode_multilabel(matrix)
        else:
            codes = check_labels(
                np.asarray(labels), len(images), num_classes, f"{self.name} labels"
            ).copy()
        self.labels = torch.from_numpy(codes)
        self.multilabel = bool(multilabel)
        self.num_classes = (
            num_classes
            if num_classes is not None
            else int(self.labels.max()) + 1
            if len(self.labels)
            else 0
        )
        self.augment = augment
        pixels = torch.from_numpy(np.ascontiguousarray(images))
        self._pixels = pixels[:, None] if pixels.ndim == 3 else pixels.permute(0, 3, 1, 2)
        n, channels, height, width = self._pixels.shape
        out_h, out_w = (image_size, image_size) if image_size is not None else (height, width)
        self._cache = None
        if n * channels * out_h * out_w * 4 <= CACHE_BYTES:
            chunks = [
                to_model_input(self._pixels[i : i + _CHUNK], image_size)
                for i in range(0, n, _CHUNK)
            ]
            self._cache = torch.cat(chunks) if chunks else torch.empty(0, channels, out_h, out_w)
        self.image_shape = (3, out_h, out_w)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._cache is not None:
            image = self._cache[index]
        else:
            image = to_model_input(self._pixels[index][None], self.image_size)[0]
        # A fresh tensor per item: gray broadcasts to 3 channels, and callers may edit in place
        # without touching the cache.
        out = torch.empty(self.image_shape).copy_(image)
        if self.augment and torch.rand(()) < 0.5:
            out = out.flip(-1)
        return out, self.labels[index], torch.tensor(self.task_id)


class MultiTaskDataset(ConcatDataset):
    """Several tasks' datasets, task ``t`` being ``datasets[t]`` (its ``task_id`` is t)."""

    def __init__(
        self, datasets: Sequence[BaseTaskDataset], task_names: Sequence[str] | None = None
    ):
        datasets = list(datasets)
        if not datasets:
            raise DataError("MultiTaskDataset needs at least one task")
        for position, dataset in enumerate(datasets):
            if not isinstance(dataset, BaseTaskDataset):
                raise DataError(
                    f"task {position}: expected a task dataset, got {type(dataset).__name__}"
                )
            if dataset.task_id != position:
                raise DataError(
                    f"task {position} ({dataset.name}) has task_id "
                    f"{dataset.task_id}; task ids must be 0..{len(datasets) - 1} "
                    "in order"
                )
        names = list(task_names) if task_names is not None else [d.name for d in datasets]
        if len(names) != len(datasets):
            raise DataError(f"{len(names)} task names for {len(datasets)} tasks")
        super().__init__(datasets)
        self.task_names: list[str] = names
        self.num_classes: list[int] = [d.num_classes for d in datasets]
        # Per task: labels are bit codes of several 0/1 labels (train with BCE), not a class.
        self.multilabel: list[bool] = [d.multilabel for d in datasets]
        self.task_lengths: list[int] = [len(d) for d in datasets]

    @property
    def num_tasks(self) -> int:
        return len(self.datasets)

    def task_of_index(self, index: int) -> int:
        """The task the sample at ``index`` belongs to."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return bisect.bisect_right(self.cumulative_sizes, index)

    def task_indices(self, task: int) -> range:
        """The indices of task ``task``'s samples."""
        start = self.cumulative_sizes[task - 1] if task else 0
        return range(start, self.cumulative_sizes[task])
