"""Writers for fixture files in the real on-disk layouts (MedMNIST .npz, image folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SPLIT_SIZES = {"train": 12, "val": 4, "test": 6}


def medmnist_arrays(
    num_classes: int,
    side: int = 28,
    rgb: bool = False,
    seed: int = 0,
    sizes: dict[str, int] = SPLIT_SIZES,
    multilabel: bool = False,
) -> dict[str, np.ndarray]:
    """Arrays as MedMNIST ships them: uint8 images, uint8 labels shaped (N, 1), or (N, C) of
    0/1 for a multi-label set (ChestMNIST)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in sizes.items():
        shape = (count, side, side, 3) if rgb else (count, side, side)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multilabel:
            arrays[f"{split}_labels"] = (rng.random((count, num_classes)) < 0.3).astype(np.uint8)
            continue
        labels = np.arange(count) % num_classes
        arrays[f"{split}_labels"] = rng.permutation(labels).astype(np.uint8)[:, None]
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def image_folder(root: Path, task: str, layout: dict[str, dict[str, list[np.ndarray]]]) -> Path:
    """``layout[split][class]`` lists the images of ``root/task/split/class/``."""
    for split, classes in layout.items():
        for name, images in classes.items():
            (root / task / split / name).mkdir(parents=True, exist_ok=True)
            for k, image in enumerate(images):
                write_image(root / task / split / name / f"img{k}.png", image)
    return root


def radimagenet_class_path(label: int) -> str:
    """A nested class folder per global label, sorted in label order (as RadImageNet nests
    modality/region/class)."""
    from lorkd_kernels.pipeline.data.radimagenet_tasks import task_ranges

    task = next(n for n, r in task_ranges().items() if label in r)
    return f"{task}/class{label:03d}"


def radimagenet_images(
    root: Path, per_class: dict[str, int], seed: int = 0
) -> dict[str, list[tuple[str, int]]]:
    """Tiny gray and RGB PNGs of all 165 classes under ``root/<split>/<class>/``, in varied
    sizes; returns each split's (relative path, global label) pairs in a shuffled order."""
    rng = np.random.default_rng(seed)
    entries: dict[str, list[tuple[str, int]]] = {}
    for split, count in per_class.items():
        pairs = []
        for label in range(165):
            for k in range(count):
                height, width = int(rng.integers(20, 30)), int(rng.integers(20, 30))
                shape = (height, width, 3) if (label + k) % 2 else (height, width)
                relative = f"{split}/{radimagenet_class_path(label)}/img{k}.png"
                write_image(root / relative, rng.integers(0, 256, shape, dtype=np.uint8))
                pairs.append((relative, label))
        entries[split] = [pairs[i] for i in rng.permutation(len(pairs))]
    return entries


def write_list_file(path: Path, pairs: list[tuple[str, int]]) -> Path:
    """A RadImageNet list file: one ``relative/path label`` line per image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{relative} {label}\n" for relative, label in pairs))
    return path
