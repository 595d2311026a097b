"""The six visual cues of the synthetic benchmark, each drawn from a class id per image.

Every cue draws one intensity layer ``(N, S, S)`` in [0, 1] on a grid spanning [-1, 1]. Each
class sets the cue's deciding property (orientation, size, shape, border, place, layer count)
and random jitter around it makes neighbouring classes overlap a little, so no task is solvable
perfectly. Every synthetic image carries all six cues: one decides its task's label, the other
five take random classes and only distract.

No class shows in the image's global intensity statistics: what a class changes is spatial
(orientation, size at an equal total area, shape at an equal area, place), and what would show
in a histogram (the stained area, a lesion's colour, an opacity's strength) is drawn alike for
every class. ``tests/pipeline/data/test_synthetic_shortcuts.py`` holds a probe on per-channel
histograms, means and deviations near chance on every task.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = dict[str, np.ndarray]


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)`` in [-1, 1], shaped ``(1, S, S)`` for broadcasting."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return axis[None, :, None], axis[None, None, :]


def soft_inside(signed: np.ndarray, softness: float | np.ndarray) -> np.ndarray:
    """1 inside (``signed < 0``) to 0 outside with a smooth edge ``softness`` wide (per image,
    or per pixel, when an array)."""
    return (0.5 - 0.5 * np.tanh(signed / softness)).astype(np.float32)


def per_image(values: np.ndarray) -> np.ndarray:
    """A per-image value ``(N,)`` shaped ``(N, 1, 1)`` to broadcast over pixels."""
    return np.asarray(values, np.float32)[:, None, None]


def stripes(rng: np.random.Generator, classes: np.ndarray, size: int) -> Layers:
    """Wavy fibres whose orientation is ``45° * class`` (4 classes)."""
    n = len(classes)
    y, x = grid(size)
    angle = np.deg2rad(45.0 * classes + rng.normal(0.0, 10.0, n))
    cycles = rng.uniform(2.5, 4.0, n)
    phase, warp_phase = rng.uniform(0.0, 2 * np.pi, (2, n))
    across = x * per_image(np.cos(angle)) + y * per_image(np.sin(angle))
    along = -x * per_image(np.sin(angle)) + y * per_image(np.cos(angle))
    # A slow bend along the fibres keeps them from looking ruled while keeping the angle.
    bend = 0.8 * np.sin(2.0 * along + per_image(warp_phase))
    wave = np.pi * per_image(cycles) * across + per_image(phase) + bend
    return {"stripes": (0.5 + 0.5 * np.cos(wave)).astype(np.float32)}


def cells(rng: np.random.Generator, classes: np.ndarray, size: int, max_count: int = 12) -> Layers:
    """Round cells with a nucleus, all sized by the class (3 classes: small to large). The number
    of cells is drawn so that their total area follows one distribution for every class: many
    small cells or a few large ones, so the stained area (an image histogram) does not tell the
    class; their size does."""
    n = len(classes)
    y, x = grid(size)
    base = np.array([0.13, 0.20, 0.28])[classes]
    area = rng.uniform(0.06, 0.2, n)  # the sum of squared radii
    count = np.clip(np.rint(area / base**2), 1, max_count).astype(np.int64)
    radius = base[:, None] * np.exp(rng.normal(0, 0.1, (n, max_count)))
    cy, cx = rng.uniform(-0.75, 0.75, (2, n, max_count))
    nucleus_shift = rng.normal(0.0, 0.2, (2, n, max_count)) * radius
    body = np.zeros((n, size, size), np.float32)
    nucleus = np.zeros((n, size, size), np.float32)
    for k in range(max_count):
        # edges soft in proportion to the radius: a fixed width would give many small cells
        # more mid-tone edge pixels than a few large ones of the same area (a histogram cue)
        present = per_image(k < count)
        r = per_image(radius[:, k])
        dist = np.sqrt((y - per_image(cy[:, k])) ** 2 + (x - per_image(cx[:, k])) ** 2)
        body = np.maximum(body, present * soft_inside(dist - r, 0.2 * r))
        ndist = np.sqrt(
            (y - per_image(cy[:, k] + nucleus_shift[0, :, k])) ** 2
            + (x - per_image(cx[:, k] + nucleus_shift[1, :, k])) ** 2
        )
        nucleus = np.maximum(nucleus, present * soft_inside(ndist - 0.45 * r, 0.09 * r))
    return {"cells": body, "nuclei": nucleus}


def _organ_shapes(u: np.ndarray, v: np.ndarray, shape: int, aspect: np.ndarray) -> np.ndarray:
    """Signed level set (< 0 inside) of one organ-like shape in its own unit frame."""
    radial = np.sqrt(u**2 + v**2)
    if shape == 0:  # round
        return radial - 0.75
    if shape == 1:  # wide oval
        return np.sqrt((u / aspect) ** 2 + (v * aspect / 1.9) ** 2) - 0.5
    if shape == 2:  # tall oval
        return np.sqrt((u * aspect / 1.9) ** 2 + (v / aspect) ** 2) - 0.5
    if shape == 3:  # bean: a disc with a bite taken from one side
        bite = np.sqrt((u - 0.75) ** 2 + v**2) - 0.45
        return np.maximum(radial - 0.8, -bite)
    if shape == 4:  # ring
        return np.abs(radial - 0.6) - 0.2
    # two lobes side by side
    return np.minimum(np.sqrt((u - 0.45) ** 2 + v**2), np.sqrt((u + 0.45) ** 2 + v**2)) - 0.45


def silhouette(rng: np.random.Generator, classes: np.ndarray, size: int) -> Layers:
    """One organ-like silhouette whose shape is the class (6 classes)."""
    n = len(classes)
    y, x = grid(size)
    cy, cx = rng.normal(0.0, 0.1, (2, n))
    scale = 0.6 * np.exp(rng.normal(0.0, 0.08, n))
    turn = np.deg2rad(rng.normal(0.0, 15.0, n))
    aspect = np.exp(rng.normal(0.0, 0.12, n))
    dy, dx = (y - per_image(cy)) / per_image(scale), (x - per_image(cx)) / per_image(scale)
    u = dx * per_image(np.cos(turn)) + dy * per_image(np.sin(turn))
    v = -dx * per_image(np.sin(turn)) + dy * per_image(np.cos(turn))
    out = np.empty((n, size, size), np.float32)
    for shape in np.unique(classes):
        pick = classes == shape
        level = _organ_shapes(u[pick], v[pick], int(shape), per_image(aspect[pick]))
        out[pick] = soft_inside(level, 0.08)
    return {"silhouette": out}


# Dermoscopy-like pigment colours: light brown, dark brown, red (vascular), blue-grey.
LESION_COLOURS = np.array(
    [[0.62, 0.42, 0.26], [0.28, 0.16, 0.10], [0.78, 0.22, 0.26], [0.33, 0.38, 0.56]], np.float32
)


# Lesion borders by class: (aspect ratio, lobes, lobe depth): round, elongated, three deep
# lobes, a jagged six-pointed border.
LESION_SHAPES = np.array([[1.0, 0, 0.0], [2.2, 0, 0.0], [1.0, 3, 0.5], [1.0, 6, 0.35]], np.float32)


def lesion(rng: np.random.Generator, classes: np.ndarray, size: int) -> Layers:
    """One spot whose shape is the class (4 classes: round, elongated, three-lobed, jagged; turned
    by about 20 degrees), of one area distribution for all, in one of the pigment colours at
    random: neither its colour nor its size (histogram features) tells the class."""
    n = len(classes)
    y, x = grid(size)
    aspect, lobes, depth = (per_image(v) for v in LESION_SHAPES[classes].T)
    cy, cx = rng.normal(0.0, 0.2, (2, n))
    # the same area for every shape: a lobed border's is (1 + depth^2 / 2) times its disc's
    radius = per_image(0.4 * np.exp(rng.normal(0.0, 0.12, n))) / np.sqrt(1 + depth**2 / 2)
    turn = per_image(np.deg2rad(rng.normal(0.0, 20.0, n)))
    dy, dx = y - per_image(cy), x - per_image(cx)
    u = (dx * np.cos(turn) + dy * np.sin(turn)) / np.sqrt(aspect)
    v = (-dx * np.sin(turn) + dy * np.cos(turn)) * np.sqrt(aspect)
    theta = np.arctan2(v, u)
    edge = radius * (1 + depth * np.sin(lobes * theta))
    pigment = rng.integers(0, len(LESION_COLOURS), n)
    colour = np.clip(LESION_COLOURS[pigment] + rng.normal(0.0, 0.07, (n, 3)), 0.0, 1.0)
    # The colour is a per-image vector, not a layer; it rides along with shape (N, 3, 1, 1).
    return {
        "lesion": soft_inside(np.sqrt(u**2 + v**2) - edge, 0.04),
        "lesion_colour": colour.astype(np.float32)[:, :, None, None],
    }


def haze(rng: np.random.Generator, classes: np.ndarray, size: int, bumps: int = 3) -> Layers:
    """Patchy opacity whose place is the class (2 classes: upper or lower zones), its strength
    drawn alike for both, so the image's brightness does not tell the class."""
    n = len(classes)
    y, x = grid(size)
    strength = rng.uniform(0.3, 1.0, n)
    side = rng.choice([-1.0, 1.0], (n, bumps))
    cx = side * rng.uniform(0.2, 0.65, (n, bumps))
    upper = (classes == 0)[:, None]
    cy = 0.05 + np.where(upper, -1.0, 1.0) * rng.uniform(0.1, 0.5, (n, bumps))
    width = rng.uniform(0.15, 0.28, (n, bumps))
    total = np.zeros((n, size, size), np.float32)
    for k in range(bumps):
        d2 = (y - per_image(cy[:, k])) ** 2 + (x - per_image(cx[:, k])) ** 2
        total += np.exp(-d2 / per_image(2 * width[:, k] ** 2)).astype(np.float32)
    return {"haze": np.clip(per_image(strength) * total, 0.0, 1.0)}


def bands(rng: np.random.Generator, classes: np.ndarray, size: int) -> Layers:
    """A curved layered band with ``class + 2`` bright layers (4 classes: 2 to 5 layers)."""
    n = len(classes)
    y, x = grid(size)
    centre = per_image(rng.normal(0.0, 0.15, n)) + per_image(rng.uniform(-0.35, 0.35, n)) * x**2
    thickness = per_image(1.1 * np.exp(rng.normal(0.0, 0.1, n)))
    depth = (y - centre) / thickness + 0.5  # 0 at the top of the band, 1 at the bottom
    inside = soft_inside(np.abs(depth - 0.5) - 0.5, 0.05)
    layers = 0.5 - 0.5 * np.cos(2 * np.pi * per_image(classes + 2) * depth)
    return {"bands": (inside * layers).astype(np.float32)}


# Cue name -> (class count, drawing function); the order fixes the random streams.
CUES: dict[str, tuple[int, Callable[..., Layers]]] = {
    "stripes": (4, stripes),
    "cells": (3, cells),
    "silhouette": (6, silhouette),
    "lesion": (4, lesion),
    "haze": (2, haze),
    "bands": (4, bands),
}
