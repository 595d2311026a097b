"""RadImageNet's image transforms: torchvision's geometry, seeded draws, ImageNet statistics."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from lorkd_kernels.pipeline.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageTransform,
    center_crop,
    random_crop_box,
    resize_for,
    resize_shorter,
)


def _image(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))


def test_resize_sizes():
    assert resize_for(224) == 256 and resize_for(16) == 18


@pytest.mark.parametrize(
    "size, expected",
    [
        ((300, 400), (256, 341)),
        ((400, 300), (341, 256)),
        ((256, 512), (256, 512)),
        ((20, 20), (18, 18)),
    ],
)
def test_resize_shorter_side_keeps_aspect(size, expected):
    target = min(expected)
    assert resize_shorter(_image(*size), target).size == expected


def test_center_crop_takes_the_middle():
    pixels = np.arange(7 * 9, dtype=np.uint8).reshape(7, 9)
    cropped = np.asarray(center_crop(Image.fromarray(pixels), 5))
    np.testing.assert_array_equal(cropped, pixels[1:6, 2:7])
    with pytest.raises(ValueError, match="cannot centre-crop 8x8 from a 9x7"):
        center_crop(Image.fromarray(pixels), 8)


def test_random_crop_boxes_respect_scale_and_ratio():
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        top, left, h, w = random_crop_box(341, 256, generator)
        assert 0 <= top and top + h <= 256 and 0 <= left and left + w <= 341
        # rounding of w and h moves area and ratio slightly past their bounds
        assert 0.08 * 0.9 <= h * w / (341 * 256) <= 1.0
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1


def test_random_crop_falls_back_to_a_centred_crop():
    # a 1000x10 strip never fits a crop of ratio <= 4/3 covering >= 8% of its area
    top, left, h, w = random_crop_box(1000, 10, torch.Generator().manual_seed(0))
    assert (h, w) == (10, round(10 * 4 / 3)) and top == 0 and left == (1000 - w) // 2


def test_test_transform_is_deterministic_and_normalised():
    image = _image(30, 20, mode="L")
    transform = ImageTransform(train=False, image_size=16)
    out = transform(image)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    expected = resize_shorter(image.convert("RGB"), 18)
    pixels = np.asarray(center_crop(expected, 16), dtype=np.float32) / 255
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    np.testing.assert_allclose(
        out.permute(1, 2, 0).numpy(), (pixels - mean) / std, rtol=1e-5, atol=1e-6
    )
    assert torch.equal(transform(image), out)


def test_train_transform_is_seeded():
    image = _image(40, 30)
    transform = ImageTransform(train=True, image_size=16)
    first = [transform(image, torch.Generator().manual_seed(s)) for s in range(4)]
    again = [transform(image, torch.Generator().manual_seed(s)) for s in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])
    torch.manual_seed(3)  # without a generator: torch's global one, as torchvision
    global_draw = transform(image)
    assert torch.equal(global_draw, first[3])


def test_flip_only_when_asked():
    image = _image(18, 18)
    flips = ImageTransform(train=True, image_size=16, flip=True)
    plain = ImageTransform(train=True, image_size=16, flip=False)
    seeds = range(40)
    flipped = [
        not torch.equal(
            flips(image, torch.Generator().manual_seed(s)),
            plain(image, torch.Generator().manual_seed(s)),
        )
        for s in seeds
    ]
    assert 5 < sum(flipped) < 35  # about half


def test_defaults_are_the_papers_sizes():
    transform = ImageTransform(train=False)
    assert (transform.image_size, transform.resize) == (224, 256)
    assert transform(_image(300, 260)).shape == (3, 224, 224)
    with pytest.raises(ValueError, match="image_size <= resize"):
        ImageTransform(train=False, image_size=32, resize=30)
