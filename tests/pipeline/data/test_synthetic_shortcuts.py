"""The synthetic benchmark has no global-statistics shortcut: on every task a probe on each
image's per-channel intensity histogram, mean and standard deviation (no spatial information)
stays near chance, within ``chance + 0.25 * (1 - chance)``, while the task is learnable from
the image (a small CNN, slow tier: ``test_learns.py`` trains the real pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lorkd_kernels.pipeline.data.synthetic_tasks import TASK_SPECS, render_split

BINS = 16
TRAIN, TEST, SIZE = 960, 480, 32


def global_statistics(images: np.ndarray) -> np.ndarray:
    """Per channel: the 16-bin intensity histogram (as fractions), the mean and the std."""
    pixels = images.astype(np.float32) / 255
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    n, channels = len(pixels), pixels.shape[-1]
    features = []
    for c in range(channels):
        values = pixels[..., c].reshape(n, -1)
        bins = np.minimum((values * BINS).astype(np.int64), BINS - 1)
        hist = np.stack([np.bincount(row, minlength=BINS) for row in bins]) / values.shape[1]
        features += [hist, values.mean(1, keepdims=True), values.std(1, keepdims=True)]
    return np.concatenate(features, axis=1)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("spec", TASK_SPECS, ids=lambda spec: spec.name)
def test_no_task_is_decided_by_global_intensity_statistics(spec, seed):
    # clean labels (the cue's own class): the strictest reading of "decided by"
    train, _, train_cues = render_split(spec, "train", TRAIN, seed, SIZE, 0.1, 1.0)
    test, _, test_cues = render_split(spec, "test", TEST, seed, SIZE, 0.1, 1.0)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(global_statistics(train), train_cues[spec.cue])
    accuracy = probe.score(global_statistics(test), test_cues[spec.cue])
    chance = 1 / spec.num_classes
    assert accuracy <= chance + 0.25 * (1 - chance), (spec.name, accuracy, chance)
