"""The 2-D bottleneck MLP of Manifold Mixup's Fig. 1 (2-D spirals), whose hidden states can be plotted.

The paper describes "a fully connected neural network with nine layers where [the] middle layer is a
2D bottleneck layer", with Manifold Mixup "applied only to the 2D bottleneck layer". Read as nine layers
of units: input (2) -> ``depth`` hidden -> bottleneck (2) -> ``depth`` hidden -> output, with
``depth`` = 3. The paper does not give the hidden width (UNVERIFIED; its code for this figure is not
public); ``width`` = 64 is our choice. Its MNIST analogue (Appendix, ``supervised/simple_mnist_exp.py``)
uses leaky-ReLU hidden layers of 1024 units and a linear 2-unit bottleneck followed by BatchNorm.

The bottleneck is linear (no activation, no dropout), so its 2-D states span the plane. Fig. 6's
regularisers are options: ``batchnorm`` (BN after every linear layer but the output, bottleneck
included) and ``dropout`` (after every hidden layer except the bottleneck; 0.5 in Fig. 6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet
from semimix.models.layers import check_dropout, check_input_shape, check_num_classes, is_positive_int
from semimix.models.mlp import ACTIVATIONS


class BottleneckMLP(StagedNet):
    """Stages: ``depth`` hidden layers, the bottleneck linear layer, ``depth`` hidden layers, the output layer.

    ``bottleneck_layer`` (= depth + 1) is the layer whose incoming state is the bottleneck's output,
    the 2-D representation of Fig. 1 (d-f): ``model.hidden_states(x)[model.bottleneck_layer]`` or
    ``model.bottleneck_states(x)``. ``mixable_layers`` is that layer alone (Fig. 1c: Manifold Mixup
    "applied only to the 2D bottleneck layer"; input mixup uses layer 0); ``all_mixable_layers`` is every stage.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        width: int = 64,
        depth: int = 3,
        bottleneck: int = 2,
        activation: str = "lrelu",
        batchnorm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        shape = check_input_shape(input_shape, "bottleneck-mlp")
        check_num_classes(num_classes, "bottleneck-mlp")
        check_dropout(dropout, "bottleneck-mlp")
        for key, value in (("width", width), ("depth", depth), ("bottleneck", bottleneck)):
            if not is_positive_int(value):
                raise SemimixError(f"bottleneck-mlp: {key} must be a positive int, got {value!r}")
        if activation not in ACTIVATIONS:
            raise SemimixError(f"bottleneck-mlp: unknown activation {activation!r}; valid activations: {', '.join(ACTIVATIONS)}")

        def linear(n_in: int, n_out: int, hidden: bool) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if batchnorm:
                layers.append(nn.BatchNorm1d(n_out))
            if hidden:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
            return layers

        sizes_before = (math.prod(shape), *([width] * depth))
        stages = [linear(a, b, True) for a, b in zip(sizes_before[:-1], sizes_before[1:])]
        stages.append(linear(width, bottleneck, False))
        sizes_after = (bottleneck, *([width] * depth))
        stages += [linear(a, b, True) for a, b in zip(sizes_after[:-1], sizes_after[1:])]
        stages.append([nn.Linear(width, num_classes)])
        stages[0].insert(0, nn.Flatten())
        self.stages.extend(nn.Sequential(*layers) for layers in stages)
        self.bottleneck_layer = depth + 1
        self.mixable_layers = (self.bottleneck_layer,)

    def bottleneck_states(self, x: torch.Tensor) -> torch.Tensor:
        """The bottleneck's output for ``x``, shape (N, bottleneck): the hidden states of Fig. 1 (d-f).

        Runs the stages as they are; call ``eval()`` and use ``torch.no_grad()`` for plots.
        """
        h = x
        for stage in self.stages[: self.bottleneck_layer]:
            h = stage(h)
        return h
