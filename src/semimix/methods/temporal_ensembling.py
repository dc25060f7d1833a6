"""Temporal Ensembling (Laine & Aila 2017): the target of each unlabeled sample is an exponential
moving average Z of the network's past predictions on it, bias-corrected as z̃ = Z / (1 − α^t)
after t updates, so early targets are not shrunk towards zero.

The ensemble is kept per sample, indexed by ``Batch.idx_u``, and updated each time the sample is
trained on; the trainer's unlabeled stream visits every sample once per epoch, so this is the
paper's once-per-epoch update. It travels in checkpoints (``state_dict``), so a resumed run
continues with the same targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import per_sample_state, require_unlabeled, supervised_loss, unlabeled_indices
from semimix.validation import bounded


@dataclass
class TemporalEnsemblingParams(MethodParams):
    weight: float = bounded(30.0, ge=0)  # w_max of the paper's ramped unsupervised weight
    alpha: float = bounded(0.6, ge=0, lt=1)  # ensemble momentum α (the paper's value)


def corrected_targets(ensemble: torch.Tensor, updates: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(z̃, mask): Z / (1 − α^t) per row, and 1 for rows updated at least once (t = 0 has no target yet)."""
    seen = updates > 0
    correction = 1 - torch.pow(torch.full_like(ensemble[:, 0], alpha), updates.to(ensemble.dtype))
    return ensemble / torch.where(seen, correction, 1.0).unsqueeze(1), seen.to(ensemble.dtype)


class TemporalEnsembling(Method[TemporalEnsemblingParams]):
    name = "temporal-ensembling"
    summary = "Temporal Ensembling: per-sample EMA of past predictions as targets (Laine & Aila 2017)"
    Params = TemporalEnsemblingParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.ensemble: torch.Tensor | None = None  # Z, (num_unlabeled, C)
        self.updates: torch.Tensor | None = None  # t per sample

    @property
    def evaluates_ema(self) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {} if self.ensemble is None else {"ensemble": self.ensemble, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ensemble, self.updates = state.get("ensemble"), state.get("updates")

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        idx = unlabeled_indices(batch, self.name)
        p = self.params
        ensemble = self.ensemble = per_sample_state(self.ensemble, lambda n: torch.zeros(n, ctx.num_classes), ctx, self.name, x_u.device)
        updates = self.updates = per_sample_state(self.updates, lambda n: torch.zeros(n, dtype=torch.long), ctx, self.name, x_u.device)
        target, seen = corrected_targets(ensemble[idx], updates[idx], p.alpha)
        probs = torch.softmax(ctx.student(ctx.view(x_u)), dim=-1)
        # MSE averaged over classes; samples without a target yet stay in the batch mean with 0.
        consistency = ((probs - target).pow(2).mean(dim=1) * seen).mean()
        ensemble[idx] = p.alpha * ensemble[idx] + (1 - p.alpha) * probs.detach()
        updates[idx] += 1
        return {"supervised": supervised_loss(batch, ctx), "consistency": p.weight * ctx.ramp * consistency}
