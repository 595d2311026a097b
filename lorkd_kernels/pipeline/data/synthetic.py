"""Writes the built-in synthetic multi-task benchmark as MedMNIST-layout ``<task>.npz`` files.

The benchmark is a pure function of its parameters: the same seed gives byte-identical arrays.
``manifest.json`` next to the files records the parameters and file hashes, so
:func:`ensure_synthetic_benchmark` reuses a matching benchmark and regenerates anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import write_json, write_npz
from .errors import DataError
from .synthetic_tasks import SYNTHETIC_TASKS, TASK_SPECS, render_split

__all__ = [
    "SYNTHETIC_TASKS",
    "MANIFEST_NAME",
    "make_synthetic_benchmark",
    "ensure_synthetic_benchmark",
    "synthetic_parameters",
]

MANIFEST_NAME = "manifest.json"
# Bump whenever drawing changes, so benchmarks cached by an older generator are redrawn.
# 2: no class shows in an image's intensity statistics (synthetic_cues.py).
GENERATOR_VERSION = 2


def synthetic_parameters(
    seed: int = 0,
    image_size: int = 32,
    train_size: int = 960,
    val_size: int = 240,
    test_size: int = 480,
    label_noise: float = 0.1,
    distractors: float = 1.0,
) -> dict[str, Any]:
    """The checked parameter set that determines a benchmark (what its manifest records)."""
    for name, value in (
        ("seed", seed),
        ("image_size", image_size),
        ("train_size", train_size),
        ("val_size", val_size),
        ("test_size", test_size),
    ):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise DataError(f"{name} must be a non-negative integer, got {value!r}")
    if image_size < 8:
        raise DataError(f"image_size must be at least 8, got {image_size}")
    if not 0.0 <= label_noise < 1.0:
        raise DataError(f"label_noise must be in [0, 1), got {label_noise!r}")
    if not distractors >= 0.0:
        raise DataError(f"distractors must be >= 0, got {distractors!r}")
    return {
        "seed": int(seed),
        "image_size": int(image_size),
        "train_size": int(train_size),
        "val_size": int(val_size),
        "test_size": int(test_size),
        "label_noise": float(label_noise),
        "distractors": float(distractors),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_synthetic_benchmark(
    root: str | os.PathLike,
    seed: int = 0,
    image_size: int = 32,
    train_size: int = 960,
    val_size: int = 240,
    test_size: int = 480,
    label_noise: float = 0.1,
    distractors: float = 1.0,
) -> dict[str, Any]:
    """Generate every synthetic task into ``root``; returns the manifest written there.

    ``label_noise`` is the fraction of labels moved to a wrong class; ``distractors`` scales the
    cues that decide the other tasks (0 removes the task conflict).
    """
    params = synthetic_parameters(
        seed, image_size, train_size, val_size, test_size, label_noise, distractors
    )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    counts = {"train": train_size, "val": val_size, "test": test_size}
    files = {}
    for spec in TASK_SPECS:
        arrays = {}
        for split, count in counts.items():
            images, labels, _ = render_split(
                spec, split, count, params["seed"], image_size, label_noise, distractors
            )
            arrays[f"{split}_images"] = images
            # MedMNIST stores labels as uint8 columns (N, 1).
            arrays[f"{split}_labels"] = labels.astype(np.uint8)[:, None]
        path = root / f"{spec.name}.npz"
        write_npz(path, arrays)
        files[path.name] = _sha256(path)
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "parameters": params,
        "tasks": dict(SYNTHETIC_TASKS),
        "files": files,
    }
    # Written last: a manifest on disk means every file it lists was complete.
    write_json(root / MANIFEST_NAME, manifest)
    return manifest


def _matching_manifest(root: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(manifest, dict)
        or manifest.get("generator_version") != GENERATOR_VERSION
        or manifest.get("parameters") != params
        or manifest.get("tasks") != SYNTHETIC_TASKS
    ):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != {f"{name}.npz" for name in SYNTHETIC_TASKS}:
        return None
    for name, digest in files.items():
        path = root / name
        if not path.is_file() or _sha256(path) != digest:
            return None
    return manifest


def ensure_synthetic_benchmark(
    root: str | os.PathLike,
    seed: int = 0,
    image_size: int = 32,
    train_size: int = 960,
    val_size: int = 240,
    test_size: int = 480,
    label_noise: float = 0.1,
    distractors: float = 1.0,
) -> dict[str, Any]:
    """Reuse the benchmark in ``root`` if its manifest and files match, else generate it.

    Concurrent callers (e.g. one per distributed rank) may both generate; the atomic writes make
    that harmless because they write identical bytes.
    """
    params = synthetic_parameters(
        seed, image_size, train_size, val_size, test_size, label_noise, distractors
    )
    manifest = _matching_manifest(Path(root), params)
    if manifest is not None:
        return manifest
    return make_synthetic_benchmark(root, **params)
