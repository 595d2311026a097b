"""The synthetic benchmark's tasks: six imaging modalities, each deciding its label by one cue.

Each modality paints all six cues of :mod:`.synthetic_cues` in its own style (stain colours,
film contrast, speckle); the task's own cue follows the label, the other five take random
classes. So the cue a task must read is noise in every other task, and a shared model meets the
task conflict LoRKD's per-task experts are meant to resolve.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from .synthetic_cues import CUES, Layers, grid, per_image, soft_inside

# Stain optical densities per RGB channel: haematoxylin as Ruifrok & Johnston measured it,
# eosin bluer than theirs so fibres look pink rather than magenta at 8 bits.
_HAEMATOXYLIN = np.array([0.65, 0.70, 0.29], np.float32)[:, None, None]
_EOSIN = np.array([0.05, 1.0, 0.45], np.float32)[:, None, None]
_CYTOPLASM = np.array([0.10, 0.55, 0.35], np.float32)[:, None, None]


def _absorb(*stains: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Bright-field colour ``(N, 3, S, S)`` from (concentration, optical density) pairs."""
    density = sum(conc[:, None] * od for conc, od in stains)
    return np.exp(-density)


def _mix(cues: Layers, **weights: float) -> np.ndarray:
    """The weighted sum of cue layers ``(N, S, S)``."""
    # every caller names at least one cue, so this is an array, never sum()'s start 0
    return cast(np.ndarray, sum(weight * cues[name] for name, weight in weights.items()))


def _tissue(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """H&E-like tissue: eosin fibres (deciding), haematoxylin nuclei and debris."""
    stain = per_image(rng.uniform(0.8, 1.2, len(cues["stripes"])))
    eosin = stain * (0.15 + _mix(cues, stripes=0.45, haze=0.2, silhouette=0.15))
    haem = stain * _mix(cues, nuclei=1.0, cells=0.25, lesion=0.4, bands=0.3)
    return _absorb((eosin, _EOSIN), (haem, _HAEMATOXYLIN))


def _blood(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """Blood-smear-like cells on a pale field: cell size decides (not the stained area)."""
    body = _mix(cues, cells=0.9, stripes=0.15, haze=0.25, silhouette=0.15)
    nucleus = _mix(cues, nuclei=1.4, lesion=0.45, bands=0.2)
    return _absorb((body, _CYTOPLASM), (nucleus, _HAEMATOXYLIN))


def _organ(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """CT-like abdominal slice: the bright organ's shape decides."""
    y, x = grid(cues["silhouette"].shape[-1])
    body = soft_inside(np.sqrt((x / 0.95) ** 2 + (y / 0.8) ** 2) - 1, 0.05)
    # Lesions are hypodense (darker); vessel-like cells and the rest are brighter.
    tissue = 0.3 + _mix(
        cues, silhouette=0.45, stripes=0.1, cells=0.25, lesion=-0.2, haze=0.12, bands=0.1
    )
    return 0.03 + body * tissue * per_image(rng.uniform(0.85, 1.15, len(tissue)))


def _skin(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """Dermoscopy-like skin patch: the lesion's shape decides (its colour is random)."""
    n = len(cues["lesion"])
    y, x = grid(cues["lesion"].shape[-1])
    tone = np.array([0.90, 0.70, 0.60], np.float32) * rng.uniform(0.8, 1.05, (n, 1))
    shading = 1 - _mix(cues, stripes=0.12, bands=0.1, silhouette=0.1)[:, None]
    redness = np.array([0.0, 0.25, 0.2], np.float32)[:, None, None] * cues["haze"][:, None]
    freckles = np.array([0.4, 0.55, 0.6], np.float32)[:, None, None] * cues["nuclei"][:, None]
    skin = tone[:, :, None, None] * shading * (1 - redness) * (1 - freckles)
    alpha = 0.9 * cues["lesion"][:, None]
    image = skin * (1 - alpha) + alpha * cues["lesion_colour"]
    # The dermatoscope's round field of view darkens the corners.
    return image * soft_inside(np.sqrt(x**2 + y**2) - 1.15, 0.12)


def _chest(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """Chest-X-ray-like film: dark lungs in a bright body; where the opacity lies (upper or lower
    zones) decides."""
    y, x = grid(cues["haze"].shape[-1])
    lungs = sum(
        soft_inside(np.sqrt(((x - side) / 0.3) ** 2 + ((y - 0.05) / 0.62) ** 2) - 1, 0.1)
        for side in (-0.42, 0.42)
    )
    ribs = 0.5 + 0.5 * np.cos(9.0 * (y - 0.25 * x**2))
    film = (
        0.65
        - 0.45 * lungs
        + 0.06 * lungs * ribs
        + 0.5 * lungs * cues["haze"]
        + _mix(cues, stripes=0.1, cells=0.15, silhouette=0.12, lesion=0.15, bands=0.1)
    )
    return film * per_image(rng.uniform(0.85, 1.1, len(film)))


def _retina(cues: Layers, rng: np.random.Generator) -> np.ndarray:
    """OCT-like retina cross-section with speckle: the number of bright layers decides."""
    # Cells become dark cyst-like holes inside the layers.
    signal = (
        0.05
        + _mix(cues, bands=0.6, stripes=0.1, silhouette=0.12, lesion=0.15, haze=0.15)
        - 0.15 * cues["cells"] * cues["bands"]
    )
    # Multiplicative speckle (gamma, mean 1) is what makes OCT look grainy.
    return np.maximum(signal, 0) * rng.gamma(6.0, 1 / 6.0, signal.shape).astype(np.float32)


@dataclass(frozen=True)
class SyntheticTask:
    """One synthetic task: the cue that decides its label and how its modality paints cues."""

    name: str
    cue: str
    channels: int
    paint: Callable[[Layers, np.random.Generator], np.ndarray]

    @property
    def num_classes(self) -> int:
        return CUES[self.cue][0]


TASK_SPECS: tuple[SyntheticTask, ...] = (
    SyntheticTask("tissue", "stripes", 3, _tissue),
    SyntheticTask("blood", "cells", 3, _blood),
    SyntheticTask("organ", "silhouette", 1, _organ),
    SyntheticTask("skin", "lesion", 3, _skin),
    SyntheticTask("chest", "haze", 1, _chest),
    SyntheticTask("retina", "bands", 1, _retina),
)

SYNTHETIC_TASKS: dict[str, int] = {spec.name: spec.num_classes for spec in TASK_SPECS}

_SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}


def task_rng(seed: int, task: str, split: str) -> np.random.Generator:
    """The random stream of one task and split: independent of the others and of their sizes."""
    return np.random.Generator(
        np.random.PCG64([seed, zlib.crc32(task.encode()), _SPLIT_STREAMS[split]])
    )


def render_split(
    spec: SyntheticTask,
    split: str,
    count: int,
    seed: int,
    image_size: int,
    label_noise: float,
    distractors: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Images (uint8, MedMNIST layout), noisy labels, and the class every cue was drawn with."""
    rng = task_rng(seed, spec.name, split)
    classes = spec.num_classes
    clean = rng.permutation(np.arange(count) % classes)
    cue_classes = {
        cue: clean if cue == spec.cue else rng.integers(0, k, count) for cue, (k, _) in CUES.items()
    }
    layers: Layers = {}
    for cue, (_, draw) in CUES.items():
        drawn = draw(rng, cue_classes[cue], image_size)
        if cue != spec.cue:
            drawn = {
                name: layer if name.endswith("colour") else layer * np.float32(distractors)
                for name, layer in drawn.items()
            }
        layers.update(drawn)
    image = spec.paint(layers, rng)
    image = image + rng.normal(0.0, 0.03, image.shape).astype(np.float32)
    if spec.channels == 3:
        image = image.transpose(0, 2, 3, 1)
    images = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    # Noisy labels move to a different class, so `label_noise` is exactly the flip rate.
    flip = rng.random(count) < label_noise
    other = (clean + rng.integers(1, classes, count)) % classes
    labels = np.where(flip, other, clean).astype(np.int64)
    return images, labels, cue_classes
