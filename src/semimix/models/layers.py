"""Building blocks and argument checks shared by the models.

The checks raise :class:`SemimixError` at construction time, so a bad configuration is reported
as one clear line before any data is loaded, instead of as a shape error deep inside ``forward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from semimix.errors import SemimixError


def is_positive_int(value: object) -> bool:
    """True for positive ints, numpy ints included (shapes may come from arrays); False for bools."""
    return isinstance(value, Integral) and not isinstance(value, bool) and int(value) > 0


def check_input_shape(input_shape: Sequence[int], model: str) -> tuple[int, ...]:
    """The input shape (without the batch axis) as a tuple of positive ints."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
    if not shape or not all(is_positive_int(d) for d in shape):
        raise SemimixError(f"{model}: input_shape must be a non-empty tuple of positive ints without the batch axis, got {input_shape!r}")
    return tuple(int(d) for d in shape)


def check_image_shape(input_shape: Sequence[int], model: str, min_size: int) -> tuple[int, int, int]:
    """An image shape (C, H, W) with H, W >= ``min_size``, or a SemimixError saying what to use instead."""
    shape = check_input_shape(input_shape, model)
    if len(shape) != 3:
        raise SemimixError(f"{model} needs image inputs of shape (C, H, W), got {shape}; use model 'mlp' for flat feature vectors")
    if min(shape[1:]) < min_size:
        raise SemimixError(f"{model} needs images of at least {min_size}x{min_size} pixels, got {shape[1]}x{shape[2]}")
    return shape


def check_num_classes(num_classes: int, model: str) -> None:
    if not is_positive_int(num_classes):
        raise SemimixError(f"{model}: num_classes must be a positive int, got {num_classes!r}")


def check_dropout(p: float, model: str) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise SemimixError(f"{model}: dropout must be in [0, 1), got {p!r}")


def check_hidden_noise(std: float, model: str) -> None:
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std >= 0.0:
        raise SemimixError(f"{model}: hidden_noise must be a standard deviation >= 0 such as 0.5, got {std!r}")


class GaussianNoise(nn.Module):
    """Adds N(0, std²) noise in train mode only: the hidden-layer noise of the VAT paper's MNIST MLP
    (after Salimans et al.'s Improved-GAN discriminator); evaluation is deterministic."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x

    def extra_repr(self) -> str:
        return f"std={self.std}"


def maybe_weight_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` in weight norm (w = g * v / |v|, one g per output unit) when ``enabled``."""
    return _weight_norm(module) if enabled else module


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    padding: int,
    *,
    bias: bool = False,
    weight_norm: bool = False,
    bn_momentum: float = 0.1,
    leaky_slope: float = 0.1,
) -> nn.Sequential:
    """conv -> BatchNorm -> LeakyReLU, the unit both CNNs are built from."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
    return nn.Sequential(
        maybe_weight_norm(conv, weight_norm),
        nn.BatchNorm2d(out_channels, momentum=bn_momentum),
        nn.LeakyReLU(leaky_slope),
    )


def pool_dropout(dropout: float, channelwise: bool = False) -> list[nn.Module]:
    """2x2 max pool, then dropout (element-wise, or whole channels if ``channelwise``) when ``dropout`` > 0."""
    layers: list[nn.Module] = [nn.MaxPool2d(2, 2)]
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout) if channelwise else nn.Dropout(dropout))
    return layers


def pooled_classifier(in_channels: int, num_classes: int, weight_norm: bool = False) -> list[nn.Module]:
    """Global average pool -> flatten -> linear; global pooling makes the head independent of the image size."""
    return [
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        maybe_weight_norm(nn.Linear(in_channels, num_classes), weight_norm),
    ]
