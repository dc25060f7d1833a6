"""FixMatch (Sohn et al. 2020): the prediction on a weak view of an unlabeled sample, where it is
confident, becomes the hard label of a strong view (RandAugment + Cutout) of the same sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import require_unlabeled
from semimix.ops import confident_pseudo_labels, masked_cross_entropy
from semimix.validation import bounded


@dataclass
class FixMatchParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # λ_u (official `wu`)
    threshold: float = bounded(0.95, ge=0, le=1)  # confidence τ on stop_gradient(softmax(weak))


class FixMatch(Method[FixMatchParams]):
    name = "fixmatch"
    summary = "FixMatch: confident weak-view predictions label strong views (Sohn et al. 2020)"
    Params = FixMatchParams

    @property
    def evaluates_ema(self) -> bool:
        return True

    @property
    def needs_strong_view(self) -> bool:
        return True

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return trained(labeled + 2 * unlabeled)  # labeled, weak and strong views in one forward

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        n_l, n_u = len(batch.x_l), len(x_u)
        # One forward of labeled, weak and strong batches together, as the official code: BN
        # statistics come from the whole step's batch, updated once.
        logits = ctx.student(torch.cat([ctx.view(batch.x_l), ctx.view(x_u), ctx.strong_view(x_u)]))
        logits_l, logits_weak, logits_strong = logits.split([n_l, n_u, n_u])
        pseudo, mask = confident_pseudo_labels(logits_weak, self.params.threshold)
        return {
            "supervised": F.cross_entropy(logits_l, batch.y_l),
            "consistency": self.params.weight * ctx.ramp * masked_cross_entropy(logits_strong, pseudo, mask),
        }
