"""The six visual cues of the synthetic benchmark, each drawn from a class id per image.

Every cue draws one intensity layer ``(N, S, S)`` in [0, 1] on a grid spanning [-1, 1]. Each
class sets the cue's deciding property (orientation, size, shape, colour, severity, layer count)
and random jitter around it makes neighbouring classes overlap a little, so no task is solvable
perfectly. Every synthetic image carries all six cues: one decides its task's label, the other
five take random classes and only distract.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Layers = dict[str, np.ndarray]


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(y, x)`` in [-1, 1], shaped ``(1, S, S)`` for broadcasting."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return axis[None, :, None], axis[None, None, :]


def soft_inside(signed: np.ndarray, softness: float) -> np.ndarray:
    """1 inside (``signed < 0``) to 0 outside with a smooth edge ``softness`` wide."""
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


def cells(rng: np.random.Generator, classes: np.ndarray, size: int, count: int = 3) -> Layers:
    """``count`` round cells with a nucleus, all sized by the class (3 classes: small to large)."""
    n = len(classes)
    y, x = grid(size)
    radius = np.array([0.13, 0.20, 0.28])[classes][:, None] * np.exp(rng.normal(0, 0.1, (n, count)))
    cy, cx = rng.uniform(-0.75, 0.75, (2, n, count))
    nucleus_shift = rng.normal(0.0, 0.2, (2, n, count)) * radius
    body = np.zeros((n, size, size), np.float32)
    nucleus = np.zeros((n, size, size), np.float32)
    for k in range(count):
        r = per_image(radius[:, k])
        dist = np.sqrt((y - per_image(cy[:, k])) ** 2 + (x - per_image(cx[:, k])) ** 2)
        body = np.maximum(body, soft_inside(dist - r, 0.03))
        ndist = np.sqrt(
            (y - per_image(cy[:, k] + nucleus_shift[0, :, k])) ** 2
            + (x - per_image(cx[:, k] + nucleus_shift[1, :, k])) ** 2
        )
        nucleus = np.maximum(nucleus, soft_inside(ndist - 0.45 * r, 0.03))
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


def lesion(rng: np.random.Generator, classes: np.ndarray, size: int) -> Layers:
    """One irregular spot whose colour is the class (4 classes); its colour is returned too."""
    n = len(classes)
    y, x = grid(size)
    cy, cx = rng.normal(0.0, 0.25, (2, n))
    radius = 0.32 * np.exp(rng.normal(0.0, 0.15, n))
    lobes = rng.uniform(0.0, 2 * np.pi, (2, n))
    theta = np.arctan2(y - per_image(cy), x - per_image(cx))
    edge = per_image(radius) * (
        1
        + 0.18 * np.sin(3 * theta + per_image(lobes[0]))
        + 0.10 * np.sin(5 * theta + per_image(lobes[1]))
    )
    dist = np.sqrt((y - per_image(cy)) ** 2 + (x - per_image(cx)) ** 2)
    colour = np.clip(LESION_COLOURS[classes] + rng.normal(0.0, 0.07, (n, 3)), 0.0, 1.0)
    # The colour is a per-image vector, not a layer; it rides along with shape (N, 3, 1, 1).
    return {
        "lesion": soft_inside(dist - edge, 0.06),
        "lesion_colour": colour.astype(np.float32)[:, :, None, None],
    }


def haze(rng: np.random.Generator, classes: np.ndarray, size: int, bumps: int = 3) -> Layers:
    """Patchy opacity whose strength is the class (2 classes: faint or dense)."""
    n = len(classes)
    y, x = grid(size)
    low, high = np.array([0.0, 0.3])[classes], np.array([0.35, 1.0])[classes]
    strength = rng.uniform(low, high)
    side = rng.choice([-1.0, 1.0], (n, bumps))
    cx = side * rng.uniform(0.2, 0.65, (n, bumps))
    cy = rng.uniform(-0.5, 0.5, (n, bumps))
    width = rng.uniform(0.18, 0.35, (n, bumps))
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
