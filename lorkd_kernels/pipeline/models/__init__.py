"""Backbones for LoRKD: torchvision-compatible ResNets and ShuffleNetV2s, single- or multi-task.

``build_model(name, num_classes)`` builds any registered model; an int ``num_classes`` gives one
``nn.Linear`` classifier, a sequence of ints one head per task
(:class:`~lorkd_kernels.nn.TaskHeads`). :func:`multitask_teacher` builds the multi-task
"foundation model" that LoRKD decomposes: a shared backbone, optionally pretrained, with per-task
heads.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

from ._classifier import ImageClassifier, NumClasses
from .pretrained import BackboneLoad, PretrainedWeightsError, Source, load_backbone
from .resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from .shufflenet import (
    InvertedResidual,
    ShuffleNetV2,
    channel_shuffle,
    shufflenet_v2_x0_5,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)

#: model name → builder taking ``num_classes``
MODELS: Dict[str, Callable[[NumClasses], ImageClassifier]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "shufflenet_v2_x0_5": shufflenet_v2_x0_5,
    "shufflenet_v2_x1_0": shufflenet_v2_x1_0,
    "shufflenet_v2_x1_5": shufflenet_v2_x1_5,
    "shufflenet_v2_x2_0": shufflenet_v2_x2_0,
}


def build_model(name: str, num_classes: NumClasses) -> ImageClassifier:
    """The registered model ``name`` with ``num_classes`` (int, or one count per task)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](num_classes)


def multitask_teacher(
    num_classes: Sequence[int], arch: str = "resnet50", checkpoint: Optional[Source] = None
) -> ImageClassifier:
    """A multi-task model: backbone ``arch`` shared by all tasks, one head per task.

    ``checkpoint`` (a path or a state dict) fills the backbone via :func:`load_backbone`; the
    heads keep their fresh initialisation, since a checkpoint's classifier is for other labels.
    """
    if isinstance(num_classes, (int, str)) or not isinstance(num_classes, Sequence):
        raise TypeError(
            f"multitask_teacher needs one class count per task (a sequence of "
            f"ints), got {num_classes!r}"
        )
    model = build_model(arch, num_classes)
    if checkpoint is not None:
        load_backbone(model, checkpoint)
    return model


__all__ = [
    "MODELS",
    "BackboneLoad",
    "BasicBlock",
    "Bottleneck",
    "PretrainedWeightsError",
    "ImageClassifier",
    "InvertedResidual",
    "ResNet",
    "ShuffleNetV2",
    "build_model",
    "channel_shuffle",
    "load_backbone",
    "multitask_teacher",
    "resnet18",
    "resnet34",
    "resnet50",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]
