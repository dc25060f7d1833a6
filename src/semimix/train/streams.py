"""Infinite, seeded streams of batch indices: shuffled epochs, resumable from a saved position."""

from __future__ import annotations

from typing import Any

import torch


class IndexStream:
    """Yields batches of indices into a dataset of ``size`` samples, reshuffling each epoch.

    A batch larger than what is left of an epoch continues into the next permutation, so every
    sample is seen once per epoch whatever the batch size. Its own generator keeps labeled and
    unlabeled streams independent of each other and of the model's randomness.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if size <= 0:
            raise ValueError("cannot stream an empty dataset")
        self.size = size
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(size, generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        parts = []
        needed = self.batch_size
        while needed > 0:
            if self.position == self.size:
                self.order = torch.randperm(self.size, generator=self.generator)
                self.position = 0
            take = min(needed, self.size - self.position)
            parts.append(self.order[self.position : self.position + take])
            self.position += take
            needed -= take
        return torch.cat(parts)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order.clone(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].clone()
        self.position = int(state["position"])
