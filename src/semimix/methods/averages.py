"""Running averages of batch statistics that a method carries from step to step (FreeMatch's
thresholds, SoftMatch's confidence Gaussian): by name, so ``Method.state_dict`` saves them in every
checkpoint and a resumed run continues from the same values as an uninterrupted one."""

from __future__ import annotations

from typing import Any

import torch


class RunningAverages:
    """Exponential moving averages m·previous + (1 − m)·batch value, kept as tensors by name.

    Under torchrun the trainer broadcasts rank 0's copy after every step (state without a row per
    unlabeled sample, ``Dist.merge_sample_state``), so every rank holds the same averages.
    """

    def __init__(self) -> None:
        self.values: dict[str, torch.Tensor] = {}

    def update(self, name: str, batch_value: torch.Tensor, momentum: float, initial: float | None) -> torch.Tensor:
        """Fold ``batch_value`` into the average ``name`` and return the new average. Before its first
        update the average is ``initial`` in every entry (the papers' 1/C), or, where ``initial`` is
        None, the first batch value itself."""
        previous = self.values.get(name)
        if previous is None:
            if initial is None:
                self.values[name] = batch_value
                return batch_value
            previous = torch.full_like(batch_value, initial)
        average = momentum * previous.to(batch_value.device) + (1 - momentum) * batch_value
        self.values[name] = average
        return average

    def state_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.values = dict(state)


class KeepsAverages:
    """Mixin for a Method whose state across steps is its ``averages`` (FreeMatch, SoftMatch): they
    are what ``state_dict`` saves in checkpoints and ``load_state_dict`` restores."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.averages = RunningAverages()

    def state_dict(self) -> dict[str, Any]:
        return self.averages.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averages.load_state_dict(state)
