"""A small CNN for 8x8 (sklearn digits) to 28x28 (MNIST) images, cheap enough for a 2-core CPU.

Three stages at widths w, 2w, 4w; global average pooling lets any H, W >= 4 through
(two 2x2 pools leave at least one pixel).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import (
    check_dropout,
    check_image_shape,
    check_num_classes,
    conv_bn_act,
    is_positive_int,
    pool_dropout,
    pooled_classifier,
)


class SmallCNN(StagedNet):
    """2x[conv3x3 w] + pool | 2x[conv3x3 2w] + pool | conv3x3 4w + global average pool + linear.

    Every conv is conv -> BN -> LeakyReLU(0.1). Mixable layers: the input and the output of each pooled block.
    """

    mixable_layers = (0, 1, 2)

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        channels, _, _ = check_image_shape(input_shape, "cnn-small", min_size=4)
        check_num_classes(num_classes, "cnn-small")
        check_dropout(dropout, "cnn-small")
        if not is_positive_int(width):
            raise SemimixError(f"cnn-small: width must be a positive int, got {width!r}")

        w1, w2, w3 = width, 2 * width, 4 * width
        self.stages.extend(
            [
                nn.Sequential(conv_bn_act(channels, w1, 3, 1), conv_bn_act(w1, w1, 3, 1), *pool_dropout(dropout)),
                nn.Sequential(conv_bn_act(w1, w2, 3, 1), conv_bn_act(w2, w2, 3, 1), *pool_dropout(dropout)),
                nn.Sequential(conv_bn_act(w2, w3, 3, 1), *pooled_classifier(w3, num_classes)),
            ]
        )
