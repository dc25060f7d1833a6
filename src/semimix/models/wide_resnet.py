"""WRN-28-2, the wide ResNet of the SSL benchmarks (Oliver et al. 2018; MixMatch; FixMatch; ICT).

Layer list and unit of ``brain-research/realistic-ssl-evaluation:lib/networks.py``:
3x3 stem conv to 16 channels, then three groups of ``(depth - 4) / 6`` pre-activation residual units
(4 for depth 28) at widths 16k, 32k, 64k (k = ``width`` = 2: 32, 64, 128) with strides 1, 2, 2,
then BN -> LeakyReLU -> global average pool -> dense. 1,467,610 parameters for 10 classes on 3x32x32.

- Unit: BN -> lrelu -> conv3x3 (stride) -> BN -> lrelu -> conv3x3, plus the shortcut (a 1x1 conv
  when the width changes, identity otherwise). Only the very first unit (``activate_before_residual``)
  feeds the *activated* input to its shortcut; every other unit's shortcut takes the raw input.
- LeakyReLU slope 0.1; BatchNorm momentum 0.001 in PyTorch's convention (TF decay 0.999); no conv bias.
- Init: convs N(0, sqrt(2 / (k^2 * out_channels))), dense Glorot normal with zero bias.

Two differences from some PyTorch ports, on purpose: the first unit of groups 2 and 3 convolves the
*activated* input as the TF original does (``xternalz``-derived ports such as ``kekmodel/FixMatch-pytorch``
skip that unit's bn1/lrelu, though its parameters still count), and BN epsilon is PyTorch's 1e-5
(TF 1e-3). Stride-2 convs pad 1 on each side (TF's "SAME" pads only the bottom/right of even inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import check_dropout, check_image_shape, check_num_classes, is_positive_int


class WideBasic(nn.Module):
    """One pre-activation residual unit of the WRN (see the module docstring)."""

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        activate_before_residual: bool,
        bn_momentum: float,
        leaky_slope: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes, momentum=bn_momentum)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=bn_momentum)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.act = nn.LeakyReLU(leaky_slope)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False) if stride != 1 or in_planes != planes else None
        self.activate_before_residual = activate_before_residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(x))
        if self.activate_before_residual:
            x = out  # the shortcut sees the activated input too
        out = self.conv1(out)
        out = self.conv2(self.dropout(self.act(self.bn2(out))))
        return out + (x if self.shortcut is None else self.shortcut(x))


class WideResNet(StagedNet):
    """Stages: [stem conv + group 1], [group 2], [group 3], [BN + lrelu + pool + dense].

    Mixable layers (0, 1, 2) = input, after group 1, after group 2, as in the Manifold Mixup and ICT
    WRN code (``randint(0, 2)``); ``all_mixable_layers`` adds 3 (after group 3, before the final BN).
    ``dropout`` (0 in the SSL benchmarks) drops between the two convs of each unit, as in Zagoruyko's WRN.
    """

    mixable_layers = (0, 1, 2)

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        width: int = 2,
        depth: int = 28,
        bn_momentum: float = 0.001,
        leaky_slope: float = 0.1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels, _, _ = check_image_shape(input_shape, "wrn", min_size=4)
        check_num_classes(num_classes, "wrn")
        check_dropout(dropout, "wrn")
        if not is_positive_int(width):
            raise SemimixError(f"wrn: width (the widening factor k) must be a positive int, got {width!r}")
        if not is_positive_int(depth) or depth < 10 or (depth - 4) % 6:
            raise SemimixError(f"wrn: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}")
        if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 < bn_momentum <= 1:
            raise SemimixError(f"wrn: bn_momentum must be in (0, 1] (PyTorch convention), got {bn_momentum!r}")
        if isinstance(leaky_slope, bool) or not isinstance(leaky_slope, (int, float)) or leaky_slope < 0:
            raise SemimixError(f"wrn: leaky_slope must be a number >= 0, got {leaky_slope!r}")

        units = (depth - 4) // 6
        widths = (16, 16 * width, 32 * width, 64 * width)

        def group(i: int) -> list[nn.Module]:
            first = WideBasic(widths[i], widths[i + 1], 1 if i == 0 else 2, i == 0, bn_momentum, leaky_slope, dropout)
            rest = [WideBasic(widths[i + 1], widths[i + 1], 1, False, bn_momentum, leaky_slope, dropout) for _ in range(units - 1)]
            return [first, *rest]

        self.stages.extend(
            [
                nn.Sequential(nn.Conv2d(channels, widths[0], 3, padding=1, bias=False), *group(0)),
                nn.Sequential(*group(1)),
                nn.Sequential(*group(2)),
                nn.Sequential(
                    nn.BatchNorm2d(widths[3], momentum=bn_momentum),
                    nn.LeakyReLU(leaky_slope),
                    nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(),
                    nn.Linear(widths[3], num_classes),
                ),
            ]
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # N(0, sqrt(2 / n)) with n = k * k * out_channels, as in the TF original.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
