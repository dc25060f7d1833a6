"""A network as a list of stages, so any method can mix hidden states between stages.

Mixing at layer k means: run stages[:k] on the batch, apply ``mix`` to the hidden state,
then run stages[k:]. Layer 0 is the input, so input mixup and Manifold Mixup share one code path
and no method needs a copy of the network.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

HiddenMix = Callable[[torch.Tensor], torch.Tensor]


class StagedNet(nn.Module):
    """Base class: subclasses fill ``self.stages`` and ``mixable_layers``.

    ``mixable_layers`` are the stage indices before which a hidden state may be mixed
    (0 = the input). ``all_mixable_layers`` may add deeper layers for the "all layers" variant.
    """

    mixable_layers: tuple[int, ...] = (0,)
    declares_hidden_layers = True  # its stages are real layers; a wrapped foreign network (models.foreign) is one opaque stage

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList()

    @property
    def all_mixable_layers(self) -> tuple[int, ...]:
        return tuple(range(len(self.stages)))

    def forward(self, x: torch.Tensor, mix_layer: int | None = None, mix: HiddenMix | None = None) -> torch.Tensor:
        """Logits for ``x``; if ``mix_layer`` is given, ``mix`` transforms the hidden state there."""
        # Programming errors of the calling method, not user input (a method draws ``mix_layer`` from the
        # model's own ``mixable_layers``; no config names it): ValueError rather than SemimixError, and not
        # an assert, which ``python -O`` would drop and leave an out-of-range layer silently unmixed.
        if (mix_layer is None) != (mix is None):
            raise ValueError("mix_layer and mix must be given together")
        if mix_layer is not None and not 0 <= mix_layer < len(self.stages):
            raise ValueError(f"mix_layer {mix_layer} outside 0..{len(self.stages) - 1}")
        h = x
        for k, stage in enumerate(self.stages):
            if k == mix_layer:
                h = mix(h)  # type: ignore[misc]
            h = stage(h)
        return h

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every state of one plain forward pass: entry k is the state before ``stages[k]`` (the one
        mixing at layer k would transform; entry 0 is ``x``) and the last entry is the output.

        For plots of hidden representations (e.g. Manifold Mixup's Fig. 1). It runs the stages as
        they are: call ``eval()`` first, and wrap in ``torch.no_grad()``, unless BatchNorm running
        statistics should update and gradients be kept.
        """
        states = [x]
        for stage in self.stages:
            states.append(stage(states[-1]))
        return states
