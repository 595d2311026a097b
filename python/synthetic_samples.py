"""Draws a grid of synthetic benchmark images: one row per task, columns grouped by class.

Run: python python/synthetic_samples.py [--out docs/synthetic_benchmark.png] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run from a checkout without installing

from lorkd_kernels.pipeline.data.medmnist import load_medmnist  # noqa: E402
from lorkd_kernels.pipeline.data.synthetic import make_synthetic_benchmark  # noqa: E402
from lorkd_kernels.pipeline.data.synthetic_tasks import TASK_SPECS  # noqa: E402

GAP = 2
LABEL_WIDTH = 150
HEADER = 18


def sample_grid(seed: int, image_size: int, examples: int, scale: int) -> Image.Image:
    most_classes = max(spec.num_classes for spec in TASK_SPECS)
    tile = image_size * scale
    columns = most_classes * examples
    width = LABEL_WIDTH + columns * (tile + GAP) + (most_classes - 1) * 2 * GAP
    height = HEADER + len(TASK_SPECS) * (tile + GAP)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    with tempfile.TemporaryDirectory() as tmp:
        # Images do not depend on label_noise (noise is drawn last), so clean labels show the
        # classes as generated.
        make_synthetic_benchmark(
            tmp,
            seed=seed,
            image_size=image_size,
            train_size=20 * most_classes,
            val_size=0,
            test_size=0,
            label_noise=0.0,
        )
        for row, spec in enumerate(TASK_SPECS):
            images, labels = load_medmnist(tmp, spec.name, "train", num_classes=spec.num_classes)
            top = HEADER + row * (tile + GAP)
            draw.text(
                (4, top + tile // 2 - 12),
                f"{spec.name}\n{spec.num_classes} classes, cue: {spec.cue}",
                fill="black",
                font=font,
            )
            for label in range(spec.num_classes):
                picks = np.flatnonzero(labels == label)[:examples]
                for k, index in enumerate(picks):
                    image = Image.fromarray(images[index]).convert("RGB")
                    image = image.resize((tile, tile), Image.NEAREST)
                    left = LABEL_WIDTH + (label * examples + k) * (tile + GAP) + label * 2 * GAP
                    canvas.paste(image, (left, top))
                    if row == 0 and k == 0:
                        draw.text((left, 3), f"class {label}", fill="black", font=font)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "synthetic_benchmark.png"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=2, help="images per class")
    parser.add_argument("--scale", type=int, default=3, help="pixel magnification")
    args = parser.parse_args()
    canvas = sample_grid(args.seed, args.image_size, args.examples, args.scale)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    canvas.save(args.out, optimize=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)")


if __name__ == "__main__":
    main()
