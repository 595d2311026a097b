"""The data sets a run trains and evaluates on, from its configuration."""

from __future__ import annotations

from typing import cast

from ..data import MultiTaskDataset, load_tasks
from .config import TrainConfig, default_synthetic_root


def synthetic_options(config: TrainConfig) -> dict:
    """The built-in benchmark's parameters for this run: its sizes, and the run's seed as the
    data seed (every seed draws its own images; the manifest next to them records it)."""
    n = config.synthetic_samples
    return {
        "seed": config.seed,
        "train_size": n,
        "val_size": max(n // 4, 1),
        "test_size": max(n // 2, 1),
    }


def load_split(config: TrainConfig, split: str) -> MultiTaskDataset:
    # No augment=True here: flips are the training loop's job (loop._flip_some), so they do not
    # depend on how samples are spread over processes.
    if config.data == "synthetic":
        return load_tasks(
            "synthetic",
            default_synthetic_root(config),
            config.tasks,
            split,
            image_size=config.image_size,
            synthetic_options=synthetic_options(config),
        )
    lists = {"train": config.train_list, "test": config.test_list}
    # every source but the synthetic one needs --root (config.validate)
    return load_tasks(
        config.data,
        cast(str, config.root),
        config.tasks,
        split,
        image_size=config.image_size,
        size=config.medmnist_size,
        list_files=lists if config.data == "radimagenet" else None,
    )
