"""The 13-layer "Conv-Large" (CNN-13) of Temporal Ensembling, Mean Teacher, VAT, ICT and AdvMixup.

On 3x32x32 inputs:
3x[conv3x3 128] -> pool -> dropout -> 3x[conv3x3 256] -> pool -> dropout
-> conv3x3 512 (no padding, 8x8 -> 6x6) -> conv1x1 256 -> conv1x1 128 -> global average pool -> FC.
Each conv is conv -> BN -> LeakyReLU.

The defaults are the ICT/AdvMixup variant: every conv and the FC in weight norm, convs with bias
(3,125,908 parameters for 10 classes). The VAT/SemiMeta variant is ``weight_norm=False, bias=False,
dropout=0.5`` (3,121,802 parameters), with ``dropout2d=True`` for SemiMeta's channel-wise dropout.
Global average pooling is adaptive, so other image sizes of at least 12x12 (e.g. 1x28x28) work too.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from torch import nn

from semimix.models.base import StagedNet
from semimix.models.layers import (
    check_dropout,
    check_image_shape,
    check_num_classes,
    conv_bn_act,
    pool_dropout,
    pooled_classifier,
)


class ConvLarge(StagedNet):
    """Stages: block 1 (through its pool/dropout), block 2 (likewise), block 3 (through the FC).

    Mixable layers: the input and the output of blocks 1 and 2, as in Manifold Mixup and ICT.
    """

    mixable_layers = (0, 1, 2)

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        weight_norm: bool = True,
        bias: bool = True,
        dropout: float = 0.0,
        dropout2d: bool = False,
        bn_momentum: float = 0.1,
        leaky_slope: float = 0.1,
    ) -> None:
        super().__init__()
        # Two 2x2 pools must leave at least 3x3 for the unpadded 3x3 conv of block 3.
        channels, _, _ = check_image_shape(input_shape, "convlarge", min_size=12)
        check_num_classes(num_classes, "convlarge")
        check_dropout(dropout, "convlarge")

        conv = partial(conv_bn_act, bias=bias, weight_norm=weight_norm, bn_momentum=bn_momentum, leaky_slope=leaky_slope)
        self.stages.extend(
            [
                nn.Sequential(
                    conv(channels, 128, 3, 1),
                    conv(128, 128, 3, 1),
                    conv(128, 128, 3, 1),
                    *pool_dropout(dropout, channelwise=dropout2d),
                ),
                nn.Sequential(
                    conv(128, 256, 3, 1),
                    conv(256, 256, 3, 1),
                    conv(256, 256, 3, 1),
                    *pool_dropout(dropout, channelwise=dropout2d),
                ),
                nn.Sequential(
                    conv(256, 512, 3, 0),
                    conv(512, 256, 1, 0),
                    conv(256, 128, 1, 0),
                    *pooled_classifier(128, num_classes, weight_norm=weight_norm),
                ),
            ]
        )
