"""The loss terms between two metrics rows: summed on the device every step, and a row's means
left there too until the trainer reads the rows (a read waits for the device, so it reads all rows
closed since the last read at once); and the first step at which each term went NaN/Inf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from semimix.errors import SemimixError
from semimix.train.distributed import Dist

AUTO_ROWS = 500  # log_every auto: about this many rows (and every step in runs of fewer than twice as many steps) ...
AUTO_MAX_EVERY = 50  # ... but at least one row every this many steps (the earlier fixed default)


def row_interval(log_every: int | str, steps: int) -> int:
    """The steps between metrics rows: ``log_every``, or for ``auto`` one that gives a run of any
    length a curve (a 20-step run logs every step, a 2,000-step one every 4)."""
    if log_every == "auto":
        return min(AUTO_MAX_EVERY, max(1, steps // AUTO_ROWS))
    return int(log_every)


class LossMeter:
    """Sums of ``{"loss": total, **terms}`` since the last row, per rank; averaged over ranks when read."""

    def __init__(self, dist: Dist, device: torch.device) -> None:
        self.dist, self.device = dist, device
        self.names: list[str] = []  # "loss" and the method's terms, known from the first step
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self._rows: list[tuple[dict[str, float], list[str], torch.Tensor | None]] = []  # closed, not yet read
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

    def end_row(self, known: dict[str, float]) -> None:
        """Close a row: ``known`` (step, lr, ramp: host numbers) and the mean of each term since the
        last row, computed on the device without waiting for it; restarts the sums."""
        means = torch.stack([value / self.count for value in self.sums.values()]) if self.sums else None
        self._rows.append((known, list(self.sums), means))
        self.sums, self.count = {}, 0

    def read(self) -> list[dict[str, float]]:
        """The rows closed since the last read, each term averaged over ranks (their shards weigh the
        same): one wait for the device and one collective for all of them."""
        rows, self._rows = self._rows, []
        means = [m for _, _, m in rows if m is not None]
        summed = iter(self.dist.sum(torch.cat(means).tolist() if means else []))
        return [{**known, **{name: next(summed) / self.dist.world_size for name in names}} for known, names, _ in rows]

    def state(self) -> dict[str, Any]:
        """The row in progress, every rank's count and sums (a collective: every rank calls it), after
        ``read`` took the closed rows."""
        per_rank = self.dist.gather(torch.tensor([float(self.count), *(value.item() for value in self.sums.values())]))
        return {"names": list(self.sums), "per_rank": per_rank}

    def load_state(self, state: dict[str, Any], rank: int) -> None:
        count, *sums = state["per_rank"][rank].tolist()
        self.count = int(count)
        self.sums = {name: torch.tensor(value, device=self.device) for name, value in zip(state["names"], sums)}
