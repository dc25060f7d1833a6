"""The loss terms between two metrics rows: summed on the device every step and read only when a
row is logged (a read waits for the device), and the first step at which each went NaN/Inf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semimix.errors import SemimixError
from semimix.train.distributed import Dist


class LossMeter:
    """Sums of ``{"loss": total, **terms}`` since the last row, per rank; averaged over ranks when read."""

    def __init__(self, dist: Dist, device: torch.device) -> None:
        self.dist, self.device = dist, device
        self.names: list[str] = []  # "loss" and the method's terms, known from the first step
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self._first_nonfinite: torch.Tensor | None = None  # per term: the first step it was NaN/Inf, or -1

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        """One trained step's terms (``loss`` first), without waiting for the device."""
        with torch.no_grad():
            for name, value in terms.items():
                self.sums[name] = self.sums.get(name, 0) + value.detach()
        self.count += 1

    def mark_nonfinite(self, nonfinite: torch.Tensor, step: int) -> None:
        """Remember ``step`` for each term that ``nonfinite`` (per term, > 0 on any rank) flags for the first time."""
        if self._first_nonfinite is None or len(self._first_nonfinite) != len(nonfinite):
            self._first_nonfinite = torch.full(nonfinite.shape, -1, dtype=torch.long, device=nonfinite.device)
        first = (nonfinite > 0) & (self._first_nonfinite < 0)
        self._first_nonfinite = torch.where(first, step, self._first_nonfinite)

    def check_finite(self, last_checkpoint: Path) -> None:
        """Raise at the first step any term went NaN/Inf (naming it), so nothing of that step or later is saved."""
        if self._first_nonfinite is None:
            return
        bad = {name: step for name, step in zip(self.names[1:], self._first_nonfinite.tolist()) if step >= 0}
        if bad:
            step = min(bad.values())
            names = ", ".join(name for name, at in bad.items() if at == step)
            raise SemimixError(
                f"loss term {names} became NaN or Inf at step {step}; stopped without saving it, so {last_checkpoint} "
                "(if any) still holds the last good state — lower optim.lr, check the data, or --set nonfinite=skip to skip such steps"
            )

    def read(self) -> dict[str, float]:
        """Mean of each term since the last read, averaged over ranks (their shards weigh the same); restarts the sums."""
        means = self.dist.sum([(value / self.count).item() for value in self.sums.values()])
        row = {name: mean / self.dist.world_size for name, mean in zip(self.sums, means)}
        self.sums, self.count = {}, 0
        return row

    def state(self) -> dict[str, Any]:
        """The row in progress, every rank's count and sums (a collective: every rank calls it)."""
        per_rank = self.dist.gather(torch.tensor([float(self.count), *(value.item() for value in self.sums.values())]))
        return {"names": list(self.sums), "per_rank": per_rank}

    def load_state(self, state: dict[str, Any], rank: int) -> None:
        count, *sums = state["per_rank"][rank].tolist()
        self.count = int(count)
        self.sums = {name: torch.tensor(value, device=self.device) for name, value in zip(state["names"], sums)}
