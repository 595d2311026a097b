"""The image transforms of the released RadImageNet training code, on PIL and torch alone.

Train: Resize(256) -> RandomResizedCrop(224) -> RandomHorizontalFlip; test: Resize(256) ->
CenterCrop(224); then ImageNet normalisation. torchvision cannot be installed next to the
pinned CPU torch, so this follows torchvision's documented algorithms (same parameter draws from
the same generator, same PIL resampling); tests/pipeline/data/test_transforms_torchvision.py
compares the two where torchvision is importable.

Random draws use ``generator`` or, by default, torch's global generator (as torchvision does):
DataLoader seeds that generator in every worker from the loader's seed, so a seeded run draws
the same crops again.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 224  # the crop the model sees
DEFAULT_RESIZE = 256  # the shorter side before cropping
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


def resize_for(image_size: int) -> int:
    """The shorter side to resize to before cropping ``image_size``: 256/224 of it (16 -> 18)."""
    return round(image_size * DEFAULT_RESIZE / DEFAULT_IMAGE_SIZE)


def resize_shorter(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is ``size``, keeping the aspect ratio (``Resize(size)``)."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_w, new_h) == (width, height):
        return image
    return image.resize((new_w, new_h), Image.Resampling.BILINEAR)


def random_crop_box(
    width: int,
    height: int,
    generator: torch.Generator | None = None,
    scale: tuple[float, float] = CROP_SCALE,
    ratio: tuple[float, float] = CROP_RATIO,
) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of a random crop covering ``scale`` of the area with an
    aspect ratio in ``ratio`` (log-uniform); the centre crop of the nearest allowed ratio when
    ten tries fail."""
    area = height * width
    # float32 logs and exp, as torchvision computes them, so the rounding below agrees
    log_ratio = torch.log(torch.tensor(ratio)).tolist()
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        aspect = torch.exp(
            torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=generator)
        ).item()
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def center_crop(image: Image.Image, size: int) -> Image.Image:
    width, height = image.size
    if size > width or size > height:
        raise ValueError(f"cannot centre-crop {size}x{size} from a {width}x{height} image")
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def normalize(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 ``(3, H, W)`` with ImageNet's mean and std."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return pixels.to(torch.float32).div_(255.0).sub_(mean).div_(std)


class ImageTransform:
    """The train (``train=True``: random crop, flip if ``flip``) or test transform of one image.

    ``image_size`` is the output side (224 by default); the shorter side is first resized to
    ``resize`` (default :func:`resize_for`, 256 for 224).
    """

    def __init__(
        self,
        train: bool,
        image_size: int = DEFAULT_IMAGE_SIZE,
        resize: int | None = None,
        flip: bool = True,
    ) -> None:
        self.resize = resize_for(image_size) if resize is None else resize
        if image_size < 1 or self.resize < image_size:
            raise ValueError(
                f"need 1 <= image_size <= resize, got image_size={image_size}, resize={self.resize}"
            )
        self.train, self.image_size, self.flip = train, image_size, flip

    def __call__(
        self, image: Image.Image, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        image = resize_shorter(image.convert("RGB"), self.resize)
        if not self.train:
            return normalize(center_crop(image, self.image_size))
        top, left, h, w = random_crop_box(image.width, image.height, generator)
        image = image.crop((left, top, left + w, top + h)).resize(
            (self.image_size, self.image_size), Image.Resampling.BILINEAR
        )
        if self.flip and torch.rand(1, generator=generator).item() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return normalize(image)
