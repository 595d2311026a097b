"""Writers for fixture files in the real on-disk layouts (MedMNIST .npz, image folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SPLIT_SIZES = {"train": 12, "val": 4, "test": 6}


def medmnist_arrays(num_classes: int, side: int = 28, rgb: bool = False, seed: int = 0,
                    sizes: dict[str, int] = SPLIT_SIZES) -> dict[str, np.ndarray]:
    """Arrays as MedMNIST ships them: uint8 images, uint8 labels shaped (N, 1)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in sizes.items():
        shape = (count, side, side, 3) if rgb else (count, side, side)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
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
