"""Reads RadImageNet as LoRKD's released code does, or from a class-folder tree.

List files (the released layout): ``rad_train_shuffled.txt`` and ``rad_test.txt`` in the root
(or ``root/label/``), or paths given explicitly; each line is ``relative/path label`` with the
path relative to the root and the label one of the 165 global classes.

Class-folder tree: ``root/<split>/<class>/<image>``, where a class folder is any folder without
subfolders (so nested folders such as ``modality/region/class`` work) and the class folders,
sorted by their path, give the global labels 0-164. Every split must hold the same 165 class
folders.

The val split: the released code has only train and test. Here ``val`` is a fixed 1/20 of the
train images, picked by a checksum of each image's relative path (so the same images whatever
the list's order or the tasks chosen), and ``train`` is the rest; a tree's own ``val`` folder is
used instead when it exists.

Image files are checked to exist when the split is loaded, one directory listing per folder
(fast even for 1.35 M images), so a missing file stops the run before training with the list
line that names it; files that exist but cannot be decoded are reported when first read.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Container, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import DataError
from .file_list import FileListDataset, escapes_folder
from .folders import IMAGE_SUFFIXES
from .radimagenet_tasks import RADIMAGENET_CLASSES, RADIMAGENET_TASKS, task_ranges
from .tasks import SPLITS
from .transforms import DEFAULT_IMAGE_SIZE, ImageTransform

LIST_FILES = {"train": "rad_train_shuffled.txt", "test": "rad_test.txt"}
VAL_EVERY = 20  # one train image in this many is held out as the val split


class LabelledPaths(NamedTuple):
    """Image paths relative to the root and their global labels (0-164)."""

    paths: list[str]
    labels: np.ndarray


def in_val_slice(path: str) -> bool:
    """Whether the train image at relative ``path`` belongs to the held-out val split."""
    return zlib.crc32(path.encode()) % VAL_EVERY == 0


def find_list_file(root: str | os.PathLike, split: str) -> Path | None:
    """The released list file of ``split`` (train or test) in ``root`` or ``root/label``."""
    for folder in (Path(root), Path(root) / "label"):
        if (folder / LIST_FILES[split]).is_file():
            return folder / LIST_FILES[split]
    return None


def _listing(folder: str, cache: dict[str, frozenset[str]]) -> frozenset[str]:
    if folder not in cache:
        try:
            cache[folder] = frozenset(os.listdir(folder))
        except OSError:
            cache[folder] = frozenset()
    return cache[folder]


def read_list_file(
    list_file: str | os.PathLike, root: str | os.PathLike, wanted: Container[int] | None = None
) -> LabelledPaths:
    """The lines of a list file whose label is in ``wanted`` (all when None), checked: every
    label in 0-164 and every image present under ``root``."""
    list_file, root = Path(list_file), Path(root)
    if not list_file.is_file():
        raise DataError(f"RadImageNet list file {list_file} does not exist")
    paths, labels = [], []
    listings: dict[str, frozenset[str]] = {}
    with open(list_file, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.rsplit(maxsplit=1)
            if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                raise DataError(
                    f"{list_file} line {number}: expected 'relative/path label', got {line!r}"
                )
            path, label = fields[0], int(fields[1])
            if not 0 <= label < RADIMAGENET_CLASSES:
                raise DataError(
                    f"{list_file} line {number}: label {label} is outside 0-"
                    f"{RADIMAGENET_CLASSES - 1} (RadImageNet's "
                    f"{RADIMAGENET_CLASSES} classes)"
                )
            if wanted is not None and label not in wanted:
                continue
            if escapes_folder(path):
                raise DataError(
                    f"{list_file} line {number}: image {path} lies outside the data "
                    f"folder {root}: list paths must be relative and stay inside it"
                )
            # string operations, not Path objects: this runs once per line of 1.35 M
            folder, name = os.path.split(os.path.join(root, path))
            if name not in _listing(folder, listings):
                raise DataError(
                    f"{list_file} line {number}: image {path} does not exist under {root}"
                )
            paths.append(path)
            labels.append(label)
    return LabelledPaths(paths, np.array(labels, dtype=np.int64))


def _class_folders(split_dir: Path) -> dict[str, list[str]]:
    """Leaf folders under ``split_dir`` (relative, '/'-separated) -> their image file names."""
    classes = {}
    for folder, subfolders, files in os.walk(split_dir):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        if not subfolders and Path(folder) != split_dir:
            relative = Path(folder).relative_to(split_dir).as_posix()
            classes[relative] = sorted(
                f
                for f in files
                if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES
            )
    return classes


def _check_classes(split_dir: Path, found: Sequence[str], root: Path) -> None:
    """``found`` must be 165 class folders, the same as every other split folder's."""
    for other in SPLITS:
        other_dir = root / other
        if other_dir == split_dir or not other_dir.is_dir():
            continue
        reference = set(_class_folders(other_dir))
        missing, extra = sorted(reference - set(found)), sorted(set(found) - reference)
        if missing or extra:
            what = "; ".join(
                f"{kind} {names[:5]}" + (" ..." if len(names) > 5 else "")
                for kind, names in (("missing", missing), ("extra", extra))
                if names
            )
            raise DataError(f"{split_dir}: its class folders differ from {other_dir}'s: {what}")
    if len(found) != RADIMAGENET_CLASSES:
        raise DataError(
            f"{split_dir}: {len(found)} class folders, expected RadImageNet's "
            f"{RADIMAGENET_CLASSES} (sorted by path they give the labels 0-"
            f"{RADIMAGENET_CLASSES - 1})"
        )


def read_class_tree(root: str | os.PathLike, split: str) -> LabelledPaths:
    """The images of ``root/<split>/``, labelled by the sorted order of the class folders."""
    root = Path(root)
    split_dir = root / split
    if not split_dir.is_dir():
        raise DataError(
            f"no split folder {split_dir}: a RadImageNet class-folder tree holds "
            f"{' and '.join(LIST_FILES)} folders of class folders"
        )
    classes = _class_folders(split_dir)
    _check_classes(split_dir, list(classes), root)
    paths, labels = [], []
    for label, name in enumerate(sorted(classes)):
        prefix = f"{split}/{name}/"
        paths += [prefix + f for f in classes[name]]
        labels += [label] * len(classes[name])
    return LabelledPaths(paths, np.array(labels, dtype=np.int64))


def read_split(
    root: str | os.PathLike,
    split: str,
    wanted: Container[int] | None = None,
    list_files: dict[str, str | os.PathLike | None] | None = None,
) -> LabelledPaths:
    """``split`` (train, val or test) from the list file given in ``list_files`` (keys train,
    test), else the one found in the root, else from a class-folder tree."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    source = "test" if split == "test" else "train"
    list_file = (list_files or {}).get(source) or find_list_file(root, source)
    if list_file is None and (Path(root) / "val").is_dir():
        return read_class_tree(root, split)  # a tree with its own val folder: no slice
    if list_file is not None:
        data = read_list_file(list_file, root, wanted)
    elif (Path(root) / source).is_dir():
        data = read_class_tree(root, source)
    else:
        raise DataError(
            f"no RadImageNet data in {root}: expected the list file "
            f"{LIST_FILES[source]} (in the root or root/label) or a class-folder "
            f"tree {Path(root) / source}/<class>/..."
        )
    if split == "test":
        return data
    held_out = np.array([in_val_slice(p) for p in data.paths], dtype=bool)
    keep = held_out if split == "val" else ~held_out
    return LabelledPaths([p for p, k in zip(data.paths, keep) if k], data.labels[keep])


def load_radimagenet(
    root: str | os.PathLike,
    tasks: Sequence[str],
    split: str,
    image_size: int | None = None,
    augment: bool = False,
    list_files: dict[str, str | os.PathLike | None] | None = None,
) -> list[FileListDataset]:
    """One lazily decoded dataset per task of ``tasks``, task ids in their order.

    The train split gets the random resized crop (and flips with ``augment``; the training
    command passes False and flips in its loop instead); val and test the centre crop.
    ``image_size`` is the crop (default 224).
    """
    ranges = task_ranges()
    chosen = [ranges[t] for t in tasks]
    wanted = frozenset(label for labels in chosen for label in labels)
    data = read_split(root, split, wanted, list_files)
    all_paths = np.asarray(data.paths, dtype=str)
    transform = ImageTransform(
        train=split == "train", image_size=image_size or DEFAULT_IMAGE_SIZE, flip=augment
    )
    datasets = []
    for task_id, (name, labels) in enumerate(zip(tasks, chosen)):
        mask = (data.labels >= labels.start) & (data.labels < labels.stop)
        datasets.append(
            FileListDataset(
                root,
                all_paths[mask],
                data.labels[mask] - labels.start,
                task_id,
                RADIMAGENET_TASKS[name],
                transform,
                name=name,
            )
        )
    return datasets
