"""Pre-activation ResNet (He et al. 2016) as Manifold Mixup and Untied MixUp train it on CIFAR.

Layer list of ``vikasverma1077/manifold_mixup:supervised/models/preresnet.py`` (itself the common
``kuangliu/pytorch-cifar`` variant): a 3x3 stem conv (stride 1, no BN, no bias), then four groups of
PreActBlocks at widths w, 2w, 4w, 8w (w = 64) with strides 1, 2, 2, 2, an average pool and a linear
layer. PreActResNet-18 has [2, 2, 2, 2] blocks (11,171,146 parameters for 10 classes on 3x32x32),
PreActResNet-34 has [3, 4, 6, 3] (21,279,306).

Pitfall: the Manifold Mixup code has **no final BN + ReLU** after the last block (He et al.'s
pre-activation design has one), so the pooled features are the raw sum of the last residual
branch and its shortcut. ``final_bn_relu=False`` (the default) reproduces that code;
``final_bn_relu=True`` adds the BN + ReLU of the paper design (+2·8w parameters).

The pool is adaptive (the reference's ``avg_pool2d(out, 4)`` is the same thing on 32x32 inputs), so
other sizes such as 1x28x28 MNIST work; the stem takes any number of input channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import check_image_shape, check_num_classes, is_positive_int, pooled_classifier


class PreActBlock(nn.Module):
    """BN -> ReLU -> conv3x3 (stride) -> BN -> ReLU -> conv3x3, plus the shortcut.

    As in the reference code, a projection shortcut (1x1 conv, when the stride or width changes)
    takes the pre-activated input; the identity shortcut takes the raw input.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False) if stride != 1 or in_planes != planes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


def _group(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` PreActBlocks; the first one changes the width and applies the stride."""
    return nn.Sequential(PreActBlock(in_planes, planes, stride), *(PreActBlock(planes, planes) for _ in range(blocks - 1)))


class PreActResNet(StagedNet):
    """Stages: [stem conv + group 1], [group 2], [group 3], [group 4 + (BN+ReLU) + pool + linear].

    Mixable layers (0, 1, 2) = input, after group 1, after group 2: the eligible layers of the Manifold
    Mixup code (``random.randint(0, 2)``); ``all_mixable_layers`` adds 3 (after group 3).
    """

    mixable_layers = (0, 1, 2)
    _model_name = "preact-resnet"

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        blocks: Sequence[int] = (2, 2, 2, 2),
        width: int = 64,
        final_bn_relu: bool = False,
    ) -> None:
        super().__init__()
        channels, _, _ = check_image_shape(input_shape, self._model_name, min_size=4)
        check_num_classes(num_classes, self._model_name)
        blocks = tuple(blocks) if isinstance(blocks, (list, tuple)) else blocks
        if not isinstance(blocks, tuple) or len(blocks) != 4 or not all(is_positive_int(b) for b in blocks):
            raise SemimixError(f"{self._model_name}: blocks must be 4 positive ints such as [2, 2, 2, 2], got {blocks!r}")
        if not is_positive_int(width):
            raise SemimixError(f"{self._model_name}: width must be a positive int (64 in the paper), got {width!r}")
        if not isinstance(final_bn_relu, bool):
            raise SemimixError(f"{self._model_name}: final_bn_relu must be true or false, got {final_bn_relu!r}")

        w = (width, 2 * width, 4 * width, 8 * width)
        head: list[nn.Module] = [nn.BatchNorm2d(w[3]), nn.ReLU()] if final_bn_relu else []
        self.stages.extend(
            [
                nn.Sequential(nn.Conv2d(channels, w[0], 3, padding=1, bias=False), *_group(w[0], w[0], blocks[0], 1)),
                _group(w[0], w[1], blocks[1], 2),
                _group(w[1], w[2], blocks[2], 2),
                nn.Sequential(*_group(w[2], w[3], blocks[3], 2), *head, *pooled_classifier(w[3], num_classes)),
            ]
        )


class PreActResNet18(PreActResNet):
    """PreActResNet-18: [2, 2, 2, 2] PreActBlocks."""

    _model_name = "preact-resnet18"

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 64, final_bn_relu: bool = False) -> None:
        super().__init__(input_shape, num_classes, (2, 2, 2, 2), width, final_bn_relu)


class PreActResNet34(PreActResNet):
    """PreActResNet-34: [3, 4, 6, 3] PreActBlocks."""

    _model_name = "preact-resnet34"

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 64, final_bn_relu: bool = False) -> None:
        super().__init__(input_shape, num_classes, (3, 4, 6, 3), width, final_bn_relu)
