"""Reads RadImageNet-style image folders: ``root/<task>/<split>/<class>/<image>``.

Class names, sorted, give the label ids; they are collected over every split directory of the
task so ``train`` and ``test`` agree even when a split lacks a class. The result has the same
form as the MedMNIST reader's, so both feed the same dataset class.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .arrays import SplitArrays
from .errors import DataError
from .tasks import SPLITS

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_GRAY_MODES = ("1", "L", "LA")
_16_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")


def _subdirs(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_tasks(root: str | os.PathLike) -> list[str]:
    """The task directories under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder root {root} is not a directory")
    return _subdirs(root)


def folder_class_names(root: str | os.PathLike, task: str) -> list[str]:
    """Sorted class names of ``task``: the union of class directories over its splits."""
    task_dir = Path(root) / task
    if not task_dir.is_dir():
        raise DataError(f"no task directory {task_dir}; {root} holds tasks {folder_tasks(root)}")
    names = set()
    for split in _subdirs(task_dir):
        if split in SPLITS:
            names.update(_subdirs(task_dir / split))
    if not names:
        raise DataError(f"{task_dir}: no class directories under any of the splits {list(SPLITS)}")
    return sorted(names)


def _decode(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 ``(H, W)`` gray or ``(H, W, 3)`` RGB, resized to ``size`` (h, w)."""
    from PIL import Image  # only the folder reader needs pillow

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode == "F":
                raise DataError(
                    f"{path}: floating-point images are not supported; store 8- or 16-bit images"
                )
            if img.mode in _16_BIT_MODES:
                # Scale the 16-bit range onto 8 bits rather than clipping it.
                wide = np.asarray(img, dtype=np.float64)
                img = Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8))
            else:
                img = img.convert("L" if img.mode in _GRAY_MODES else "RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        # UnidentifiedImageError and truncated-file errors are OSErrors.
        raise DataError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from err


def load_image_folder(
    root: str | os.PathLike, task: str, split: str, image_size: int | None = None
) -> SplitArrays:
    """Load ``split`` of ``task``, every image resized to ``image_size`` squared.

    Without ``image_size`` every image takes the size of the first one. Images come out gray
    ``(N, H, W)`` when all are gray, otherwise RGB ``(N, H, W, 3)``.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    class_names = folder_class_names(root, task)
    split_dir = Path(root) / task / split
    if not split_dir.is_dir():
        raise DataError(
            f"no split directory {split_dir}; {split_dir.parent} holds {_subdirs(split_dir.parent)}"
        )
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(class_names):
        class_dir = split_dir / name
        if class_dir.is_dir():
            files += [
                (p, label)
                for p in sorted(class_dir.iterdir())
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            ]
    if not files:
        raise DataError(
            f"{split_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class directories"
        )
    size = (image_size, image_size) if image_size is not None else None
    images = []
    for path, _ in files:
        image = _decode(path, size)
        size = size or image.shape[:2]
        images.append(image)
    if any(image.ndim == 3 for image in images):
        images = [np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im for im in images]
    labels = np.array([label for _, label in files], dtype=np.int64)
    return SplitArrays(np.stack(images), labels)
