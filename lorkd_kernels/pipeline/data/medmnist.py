"""Reads MedMNIST ``.npz`` files in the official layout (``{split}_images`` / ``{split}_labels``).

Files are ``<task>.npz`` (the original 28×28 release) or ``<task>_<size>.npz`` (MedMNIST+, e.g.
``pathmnist_64.npz``, ``_128``, ``_224``). Every 2D subset is read
(:data:`.tasks.MEDMNIST_2D_TASKS`); ChestMNIST's labels are ``(N, 14)`` 0/1 and come back as
that matrix. Every problem with a file is reported as a :class:`DataError` naming the file and,
where it applies, the key.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .arrays import SplitArrays, check_images, check_labels, check_multilabel
from .errors import DataError
from .tasks import MEDMNIST_2D_TASKS, MEDMNIST_3D_TASKS, MULTILABEL_TASKS, SPLITS

# What numpy, zipfile and zlib raise on a truncated or damaged archive.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, EOFError, OSError)


def _listing(root: Path, limit: int = 20) -> str:
    names = sorted(p.name for p in root.iterdir())
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def task_files(root: str | os.PathLike, task: str) -> dict[int | None, Path]:
    """The files for ``task`` in ``root``, keyed by their size suffix (``None``: no suffix)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data root {root} is not a directory")
    pattern = re.compile(re.escape(task) + r"(?:_(\d+))?\.npz")
    found: dict[int | None, Path] = {}
    for path in root.iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            found[int(match.group(1)) if match.group(1) else None] = path
    return found


def medmnist_file(
    root: str | os.PathLike, task: str, size: int | None = None
) -> tuple[Path, int | None]:
    """Pick the file of ``task`` in ``root``; returns it and the image size its name promises."""
    root = Path(root)
    found = task_files(root, task)
    if size is not None:
        if size in found:
            return found[size], size
        # The original 28×28 release names its files without a size suffix.
        if size == 28 and None in found:
            return found[None], 28
        raise DataError(
            f"no {size}×{size} file for task {task!r} in {root}: expected "
            f"{task}_{size}.npz; the directory holds {_listing(root)}"
        )
    if not found:
        raise DataError(
            f"no file for task {task!r} in {root}: expected {task}.npz or "
            f"{task}_<size>.npz; the directory holds {_listing(root)}"
        )
    if len(found) > 1:
        names = ", ".join(sorted(p.name for p in found.values()))
        raise DataError(
            f"several files for task {task!r} in {root} ({names}): pass size= to pick one"
        )
    ((suffix, path),) = found.items()
    return path, suffix


def _read_key(npz, path: Path, key: str) -> np.ndarray:
    if key not in npz.files:
        raise DataError(f"{path}: missing key {key!r}; keys present: {sorted(npz.files)}")
    try:
        return npz[key]
    except _READ_ERRORS as err:
        raise DataError(
            f"{path}, key {key!r}: cannot read the array, the file is truncated or "
            f"corrupt ({type(err).__name__}: {err})"
        ) from err
    except MemoryError as err:  # a header declaring a shape no file of this size holds
        raise DataError(
            f"{path}, key {key!r}: the array's header declares more data than fits "
            f"in memory; the file is corrupt ({err})"
        ) from err


def read_npz_split(
    path: str | os.PathLike,
    split: str,
    num_classes: int | None = None,
    image_size: int | None = None,
    multilabel: bool = False,
) -> SplitArrays:
    """Read one split of a MedMNIST-layout file, checking dtypes, shapes and label range.

    With ``multilabel`` the labels must be ``(N, num_classes)`` of 0/1 and are returned so.
    """
    path = Path(path)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    image_key, label_key = f"{split}_images", f"{split}_labels"
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise DataError(
            f"{path}: not a readable .npz archive, the file is truncated or corrupt "
            f"({type(err).__name__}: {err})"
        ) from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path}: expected an .npz archive of named arrays, found a single {type(npz).__name__}"
        )
    with npz:
        images = check_images(_read_key(npz, path, image_key), f"{path}, key {image_key!r}")
        labels = _read_key(npz, path, label_key)
    if image_size is not None and images.shape[1:3] != (image_size, image_size):
        raise DataError(
            f"{path}, key {image_key!r}: expected {image_size}×{image_size} images, "
            f"got {images.shape[1]}×{images.shape[2]}"
        )
    where = f"{path}, key {label_key!r}"
    if multilabel:
        if num_classes is None:
            raise DataError(f"{path}: reading multi-label labels needs num_classes")
        labels = check_multilabel(labels, len(images), num_classes, where)
    else:
        labels = check_labels(labels, len(images), num_classes, where)
    return SplitArrays(images, labels)


def unknown_task_message(task: str) -> str:
    """Why ``task`` is not a MedMNIST 2D task, naming the ones that are."""
    if task in MEDMNIST_3D_TASKS:
        return (
            f"{task!r} is a MedMNIST 3D set; only the 2D sets are supported: "
            f"{', '.join(MEDMNIST_2D_TASKS)}"
        )
    return f"unknown MedMNIST task {task!r}; known tasks: {', '.join(MEDMNIST_2D_TASKS)}"


def load_medmnist(
    root: str | os.PathLike,
    task: str,
    split: str,
    size: int | None = None,
    num_classes: int | None = None,
) -> SplitArrays:
    """Load ``split`` of ``task`` from ``root``; ``size`` picks among ``<task>_<size>.npz`` files.

    ``num_classes`` defaults to the MedMNIST class count; pass it for other tasks in this layout
    (they are read as single-label). Multi-label tasks (ChestMNIST) return ``(N, C)`` labels.
    """
    multilabel = False
    if num_classes is None:
        if task not in MEDMNIST_2D_TASKS:
            raise DataError(unknown_task_message(task) + " (or pass num_classes)")
        num_classes = MEDMNIST_2D_TASKS[task]
        multilabel = task in MULTILABEL_TASKS
    path, image_size = medmnist_file(root, task, size)
    return read_npz_split(path, split, num_classes, image_size, multilabel)
