"""The small 1-D CNN of MNIST-1D (``greydanus/mnist1d``: ``ConvBase``), 5,210 parameters for 10 classes.

conv1d(1 -> 25, kernel 5) -> ReLU -> conv1d(25 -> 25, kernel 3) -> ReLU -> conv1d(25 -> 25, kernel 3)
-> ReLU -> flatten -> linear; every conv has stride 2, padding 1 and a bias. On length-40 signals the
lengths go 40 -> 19 -> 10 -> 5, so the linear layer sees 25 * 5 = 125 features, as in the reference
(``linear_in=125``). Only the first conv has kernel 5; 5,210 is the count of this layer list.
Other lengths work too (the linear layer is sized from the input); inputs may be (C, L) or flat (L,).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import check_input_shape, check_num_classes, is_positive_int

KERNELS = (5, 3, 3)
STRIDE, PADDING = 2, 1


def _out_length(length: int, kernel: int) -> int:
    return (length + 2 * PADDING - kernel) // STRIDE + 1


class CNN1d(StagedNet):
    """Stages: [conv 1], [conv 2], [conv 3 + flatten + linear] (each conv followed by ReLU).

    Mixable layers: the input and the output of the first two convs; ``all_mixable_layers`` is the same.
    A flat (L,) input is mixed as it comes and viewed as (1, L) inside stage 0.
    """

    mixable_layers = (0, 1, 2)

    def __init__(self, input_shape: Sequence[int], num_classes: int, channels: int = 25) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "cnn1d")
        check_num_classes(num_classes, "cnn1d")
        if len(shape) not in (1, 2):
            raise SemimixError(f"cnn1d needs 1-D signals of shape (C, L) or (L,), got {shape}; use 'cnn-small' for images")
        if not is_positive_int(channels):
            raise SemimixError(f"cnn1d: channels must be a positive int, got {channels!r}")
        in_channels, length = (1, shape[0]) if len(shape) == 1 else shape
        lengths = [length]
        for kernel in KERNELS:
            lengths.append(_out_length(lengths[-1], kernel))
        if min(lengths) < 1:  # a kernel-5 conv with padding 1 needs at least 3 samples
            raise SemimixError(f"cnn1d needs signals of length at least 3, got {length}")

        def conv(n_in: int, kernel: int) -> list[nn.Module]:
            return [nn.Conv1d(n_in, channels, kernel, stride=STRIDE, padding=PADDING), nn.ReLU()]

        first: list[nn.Module] = [nn.Unflatten(1, (1, length))] if len(shape) == 1 else []
        self.stages.extend(
            [
                nn.Sequential(*first, *conv(in_channels, KERNELS[0])),
                nn.Sequential(*conv(channels, KERNELS[1])),
                nn.Sequential(*conv(channels, KERNELS[2]), nn.Flatten(), nn.Linear(channels * lengths[-1], num_classes)),
            ]
        )
