"""A task whose images stay on disk: paths and labels in memory, decoding in ``__getitem__``.

RadImageNet's 1.35 M images do not fit in memory decoded, so each sample is read and
transformed when asked for, in the DataLoader's worker processes. Paths are held as one numpy
byte array rather than a list of Python strings, so forked workers share it instead of copying
it page by page as reference counts change.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from .datasets import BaseTaskDataset
from .errors import DataError
from .transforms import ImageTransform


def escapes_folder(relative: str) -> bool:
    """Whether a list's path is absolute or climbs out of the folder it is relative to."""
    normal = os.path.normpath(relative)
    return os.path.isabs(relative) or normal == os.pardir or normal.startswith(os.pardir + os.sep)


class FileListDataset(BaseTaskDataset):
    """One task's images ``root/paths[i]`` with int labels, yielding ``(image, label, task_id)``.

    ``transform`` turns a PIL image into the model's float32 ``(3, S, S)`` input.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        paths: Sequence[str] | np.ndarray,
        labels: np.ndarray,
        task_id: int,
        num_classes: int,
        transform: ImageTransform,
        name: str | None = None,
    ) -> None:
        super().__init__(task_id, transform.image_size, name)
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != len(paths):
            raise DataError(f"{self.name}: {len(labels)} labels for {len(paths)} images")
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(f"{self.name}: labels must lie in [0, {num_classes - 1}]")
        self.root = os.fspath(root)
        for line, relative in enumerate(paths, 1):
            if escapes_folder(relative):
                raise DataError(
                    f"{self.name}: image {line} of the list, {relative!r}, lies "
                    f"outside the data folder {self.root}: list paths must be "
                    f"relative and stay inside it"
                )
        self._paths = np.char.encode(np.asarray(paths, dtype=str), "utf-8")
        self.labels = torch.from_numpy(labels.copy())
        self.num_classes = num_classes
        self.transform = transform
        self.image_shape = (3, transform.image_size, transform.image_size)

    def path(self, index: int) -> str:
        return os.path.join(self.root, self._paths[index].decode())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from PIL import Image

        path = self.path(index)
        try:
            with Image.open(path) as image:
                pixels = self.transform(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            # A missing, truncated or undecodable file: name it rather than PIL's internals.
            raise DataError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from err
        return pixels, self.labels[index], torch.tensor(self.task_id)
