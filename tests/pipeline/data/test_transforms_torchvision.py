"""Our RadImageNet transforms against torchvision's: the same seed gives the same tensors.

Runs only where torchvision imports (it must match the installed torch); ``--require
torchvision`` makes its absence a failure.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lorkd_kernels.pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ImageTransform
from tests import requirements

try:
    from torchvision import transforms
except Exception:  # a torchvision built for another torch fails with more than ImportError
    transforms = None

if transforms is None:
    requirements.unavailable("torchvision", "torchvision is not importable with this torch")


def _torchvision(train: bool, image_size: int, resize: int):
    steps = [transforms.Resize(resize)]
    steps += (
        [transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip()]
        if train
        else [transforms.CenterCrop(image_size)]
    )
    return transforms.Compose(
        [*steps, transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("image_size, resize", [(224, 256), (16, 18)])
@pytest.mark.parametrize(
    "width, height, mode", [(300, 260, "L"), (256, 400, "RGB"), (1000, 40, "L")]
)
def test_same_seed_same_tensor(train, image_size, resize, width, height, mode):
    rng = np.random.default_rng(width + height)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).convert("RGB")
    ours = ImageTransform(train, image_size, resize)
    theirs = _torchvision(train, image_size, resize)
    for seed in range(5):
        torch.manual_seed(seed)
        expected = theirs(image)
        torch.manual_seed(seed)
        torch.testing.assert_close(ours(image), expected, rtol=0, atol=1e-6)
