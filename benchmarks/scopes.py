"""Which layer problems each scope runs (``--bench-scope``; see benchmarks/README.md).

The full matrix: every distinct conv (linear) shape of the students at 28, 64 and 128 pixel
inputs x batch 64, 256 x rank 4, 16 x the four task mixes x forward, forward+backward.
``standard`` measures the main setting (64 px, batch 64, rank 4, T = 10, uniform mix,
forward+backward) on every distinct shape, and sweeps one dimension at a time away from it
(each other mix, rank 16, batch 256, forward only) on a few representative layers. ``quick``
is the main setting on the representative layers. ``paper`` is the paper's scale, what the GPU
targets are judged on: the representative layers at 224 px input, batch 256, forward+backward
(each case also records its forward's device time on a GPU) in float32 and bfloat16; the model
suite then steps the students at the same size and in both dtypes. ``--bench-tiny`` keeps the
structure of the scope but on the representative layers at 8 px with batches of 2 and 8, and the
sweep on one layer, so every benchmark function, provider, mix and pass runs once in seconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import List, Optional

from .common import NUM_TASKS, RANK, SETTINGS
from .shapes import LayerShape, distinct_shapes, shapes_of_layers
from .task_mixes import MIXES, num_tasks_for

PASSES = ("fwd", "fwd+bwd")
FULL_IMAGE_SIZES = (28, 64, 128)
FULL_BATCHES = (64, 256)
FULL_RANKS = (4, 16)
TINY_IMAGE_SIZE = 8

#: layers the sweeps and the quick scope use: the most repeated ShuffleNetV2 pointwise convs
#: (58 and 116 channels), its depthwise 3x3, and the first and last ResNet-18 3x3 convs
REPRESENTATIVE = {
    "conv": (
        "shufflenet_v2_x1_0:stage2.1.branch2.0",
        "shufflenet_v2_x1_0:stage3.1.branch2.0",
        "shufflenet_v2_x1_0:stage3.1.branch2.3",
        "resnet18:layer1.0.conv1",
        "resnet18:layer4.0.conv2",
    ),
    "linear": ("shufflenet_v2_x1_0:fc", "resnet18:fc"),
}


@dataclass(frozen=True)
class LayerCase:
    """One layer problem: a shape under one setting (the providers then run it)."""

    shape: LayerShape
    image_size: int
    batch: int
    rank: int
    mix: str
    pass_: str
    num_tasks: int = NUM_TASKS
    #: "main" for the main setting (what the CPU speed targets are judged on), "paper" for the
    #: paper's scale (the GPU targets), each followed by what changed from it
    setting: str = "main"
    dtype: str = "float32"

    @property
    def id(self) -> str:
        """Test id and pytest-benchmark group: everything but the provider."""
        dtype = "" if self.dtype == "float32" else f"-{self.dtype}"
        return f"{self.shape.name}-{self.pass_}-{self.mix}-r{self.rank}-b{self.batch}{dtype}"


MAIN = dict(image_size=64, batch=64, rank=RANK, mix="uniform", pass_="fwd+bwd", dtype="float32")
#: the paper's scale (224 px ImageNet-size input, batch 256) in both dtypes a GPU trains in
PAPER = {**MAIN, "image_size": 224, "batch": 256}
PAPER_DTYPES = ("float32", "bfloat16")
#: one dimension at a time away from MAIN
SWEEP = (
    dict(mix="skewed"),
    dict(mix="single"),
    dict(mix="per_sample"),
    dict(rank=16),
    dict(batch=256),
    dict(pass_="fwd"),
)


def _case(shape: LayerShape, tiny: bool, base: str = "main", **setting) -> LayerCase:
    """The case of ``shape`` under ``setting``, labelled by its base setting (``main`` or
    ``paper``) and what differs from it (the main setting's changes alone name a sweep case)."""
    reference = PAPER if base == "paper" else MAIN
    changed = [
        f"{key.rstrip('_')}={value}"
        for key, value in setting.items()
        if key != "image_size" and reference[key] != value
    ]
    if setting["image_size"] != reference["image_size"] and not tiny:
        changed.insert(0, f"image_size={setting['image_size']}")
    if tiny:  # 64 -> 2, 256 -> 8: sweeps stay distinct
        setting["batch"] = max(2, setting["batch"] // 32)
    setting["num_tasks"] = num_tasks_for(setting["mix"], setting["batch"], NUM_TASKS)
    if base == "paper":
        label = ",".join(["paper", *changed])
    else:
        label = ",".join(changed) or "main"
    return LayerCase(shape, setting=label, **setting)


def layer_cases(
    kind: str, scope: Optional[str] = None, tiny: Optional[bool] = None
) -> List[LayerCase]:
    """The ``kind`` ("conv" or "linear") problems of ``scope``, tiny or not (default: this run's
    :data:`~benchmarks.common.SETTINGS`)."""
    scope = SETTINGS.scope if scope is None else scope
    tiny = SETTINGS.tiny if tiny is None else tiny
    image_size = TINY_IMAGE_SIZE if tiny else MAIN["image_size"]
    main = {**MAIN, "image_size": image_size}
    representative = shapes_of_layers(image_size, REPRESENTATIVE[kind])
    if scope == "full" and not tiny:
        cases = []
        for size in FULL_IMAGE_SIZES:
            for shape in distinct_shapes([size], kind):
                for batch, rank, mix, pass_ in itertools.product(
                    FULL_BATCHES, FULL_RANKS, MIXES, PASSES
                ):
                    cases.append(
                        _case(
                            shape,
                            tiny,
                            image_size=size,
                            batch=batch,
                            rank=rank,
                            mix=mix,
                            pass_=pass_,
                        )
                    )
        return list({case.id: case for case in cases}.values())  # a shape seen at two sizes
    if scope == "quick":
        return [_case(shape, tiny, **main) for shape in representative]
    if scope == "paper":
        size = image_size if tiny else PAPER["image_size"]
        at_scale = shapes_of_layers(size, REPRESENTATIVE[kind])
        return [
            _case(shape, tiny, base="paper", **{**PAPER, "image_size": size, "dtype": dtype})
            for dtype in PAPER_DTYPES
            for shape in at_scale
        ]
    shapes = representative if tiny else distinct_shapes([image_size], kind)
    swept = representative[:1] if tiny else representative
    cases = [_case(shape, tiny, **main) for shape in shapes]
    cases += [_case(shape, tiny, **{**main, **change}) for shape in swept for change in SWEEP]
    return cases
