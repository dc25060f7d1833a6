"""Fully connected network, one stage per hidden layer so every hidden layer can be mixed.

Used by the two-circles study of the AdvMixup paper (widths (100, 50), ReLU, no BatchNorm) and
as the VAT MNIST MLP (widths (1200, 1200), ``batchnorm=True``: Linear -> BN -> ReLU, and
``output_batchnorm=True``: the VAT code's BN on the logits, "the last BN feeds softmax").
The VAT paper's TPAMI MNIST result uses widths (1200, 600, 300, 150) and ``hidden_noise=0.5``:
Gaussian noise after every hidden activation, in train mode only. ``init="lecun-normal"`` draws the
weights from N(0, 1/fan_in) with zero biases, as the VAT Theano code does; under BatchNorm and Adam
the weight scale sets the effective step size, so torch's default (a √3 smaller std) trains faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import (
    GaussianNoise,
    check_dropout,
    check_hidden_noise,
    check_input_shape,
    check_num_classes,
    is_positive_int,
)

# lrelu uses slope 0.1, like the CNNs of this library.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(0.1)}
INITS = ("default", "lecun-normal")


def lecun_normal_(layer: nn.Linear) -> None:
    """W ~ N(0, 1/fan_in), b = 0: Kaiming's fan-in rule with a linear gain."""
    nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="linear")
    nn.init.zeros_(layer.bias)


class MLP(StagedNet):
    """Stage 0 flattens the input; stage k applies hidden layer k; the last stage is the output layer.

    Mixable layers are the input and the output of every hidden layer (never the logits).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        widths: Sequence[int] = (100, 50),
        activation: str = "relu",
        batchnorm: bool = False,
        dropout: float = 0.0,
        output_batchnorm: bool = False,
        hidden_noise: float = 0.0,
        init: str = "default",
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "mlp")
        check_num_classes(num_classes, "mlp")
        check_dropout(dropout, "mlp")
        check_hidden_noise(hidden_noise, "mlp")
        widths = tuple(widths) if isinstance(widths, (list, tuple)) else widths
        if not isinstance(widths, tuple) or not all(is_positive_int(w) for w in widths):
            raise SemimixError(f"mlp: widths must be a list of positive ints such as [100, 50], got {widths!r}")
        if activation not in ACTIVATIONS:
            raise SemimixError(f"mlp: unknown activation {activation!r}; valid activations: {', '.join(ACTIVATIONS)}")
        if init not in INITS:
            raise SemimixError(f"mlp: unknown init {init!r}; valid inits: {', '.join(INITS)} (default: torch's own)")

        sizes = (math.prod(shape), *widths)
        stages: list[list[nn.Module]] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if batchnorm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(ACTIVATIONS[activation]())
            if hidden_noise > 0:
                layers.append(GaussianNoise(hidden_noise))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            stages.append(layers)
        stages.append([nn.Linear(sizes[-1], num_classes), *([nn.BatchNorm1d(num_classes)] if output_batchnorm else [])])
        stages[0].insert(0, nn.Flatten())
        self.stages.extend(nn.Sequential(*layers) for layers in stages)
        self.mixable_layers = tuple(range(len(self.stages)))
        if init == "lecun-normal":
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    lecun_normal_(layer)
