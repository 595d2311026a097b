"""ShuffleNetV2 ×0.5/×1.0/×1.5/×2.0 with torchvision's module tree, parameter names and shapes.

State dicts are interchangeable with ``torchvision.models.shufflenet_v2_x*`` of the same class
count. Every layer is a plain ``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.Linear``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._classifier import ImageClassifier, NumClasses, check_images, make_classifier


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups, so the two branches of a unit mix."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width)
    return x.transpose(1, 2).contiguous().view(batch, channels, height, width)


def depthwise_conv(channels: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(
        channels, channels, kernel_size=3, stride=stride, padding=1, bias=False, groups=channels
    )


def pointwise_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)


class InvertedResidual(nn.Module):
    """A ShuffleNetV2 unit: two branches of ``oup // 2`` channels, concatenated and shuffled.

    With stride 1 the input is split in half and ``branch1`` is empty (the first half passes
    through); with stride > 1 both branches see the whole input and halve the resolution.
    """

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError(f"stride must be 1, 2 or 3, got {stride}")
        self.stride = stride
        branch_features = oup // 2
        if stride == 1 and inp != 2 * branch_features:
            raise ValueError(
                f"a stride-1 unit splits its input in two halves of oup // 2 "
                f"channels, so inp must equal {2 * branch_features}, got {inp}"
            )
        if stride > 1:
            self.branch1 = nn.Sequential(
                depthwise_conv(inp, stride),
                nn.BatchNorm2d(inp),
                pointwise_conv(inp, branch_features),
                nn.BatchNorm2d(branch_features),
                nn.ReLU(inplace=True),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            pointwise_conv(inp if stride > 1 else branch_features, branch_features),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
            depthwise_conv(branch_features, stride),
            nn.BatchNorm2d(branch_features),
            pointwise_conv(branch_features, branch_features),
            nn.BatchNorm2d(branch_features),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, transformed = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(transformed)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(ImageClassifier):
    """ShuffleNetV2 for 3-channel images; ``num_classes`` as in :class:`~.resnet.ResNet`.

    ``stages_repeats``: units in stage2..4; ``stages_out_channels``: output channels of conv1,
    stage2..4 and conv5.
    """

    # set by name in __init__
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(
        self,
        stages_repeats: Sequence[int],
        stages_out_channels: Sequence[int],
        num_classes: NumClasses = 1000,
    ) -> None:
        super().__init__()
        if len(stages_repeats) != 3 or min(stages_repeats) < 1:
            raise ValueError(
                f"stages_repeats must list 3 positive ints, got {list(stages_repeats)}"
            )
        if len(stages_out_channels) != 5 or min(stages_out_channels) < 1:
            raise ValueError(
                f"stages_out_channels must list 5 positive ints, got {list(stages_out_channels)}"
            )
        self._stage_out_channels = list(stages_out_channels)
        channels = self._stage_out_channels[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, channels, 3, 2, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = channels
        for name, repeats, channels in zip(
            ("stage2", "stage3", "stage4"), stages_repeats, self._stage_out_channels[1:4]
        ):
            units = [InvertedResidual(in_channels, channels, 2)]
            units.extend(InvertedResidual(channels, channels, 1) for _ in range(repeats - 1))
            setattr(self, name, nn.Sequential(*units))
            in_channels = channels
        self.num_features = self._stage_out_channels[-1]
        self.conv5 = nn.Sequential(
            nn.Conv2d(in_channels, self.num_features, 1, 1, 0, bias=False),
            nn.BatchNorm2d(self.num_features),
            nn.ReLU(inplace=True),
        )
        self.fc = make_classifier(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally mean-pooled features ``(N, num_features)``, before ``fc``."""
        check_images(x)
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return x.mean([2, 3])


# units in stage2, stage3 and stage4, the same for every width
_STAGES_REPEATS = (4, 8, 4)


def shufflenet_v2_x0_5(num_classes: NumClasses = 1000) -> ShuffleNetV2:
    return ShuffleNetV2(_STAGES_REPEATS, (24, 48, 96, 192, 1024), num_classes)


def shufflenet_v2_x1_0(num_classes: NumClasses = 1000) -> ShuffleNetV2:
    return ShuffleNetV2(_STAGES_REPEATS, (24, 116, 232, 464, 1024), num_classes)


def shufflenet_v2_x1_5(num_classes: NumClasses = 1000) -> ShuffleNetV2:
    return ShuffleNetV2(_STAGES_REPEATS, (24, 176, 352, 704, 1024), num_classes)


def shufflenet_v2_x2_0(num_classes: NumClasses = 1000) -> ShuffleNetV2:
    return ShuffleNetV2(_STAGES_REPEATS, (24, 244, 488, 976, 2048), num_classes)
