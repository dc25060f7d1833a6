"""Pseudo-Label (Lee 2013): confident predictions on unlabeled samples become hard labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import require_unlabeled, supervised_loss
from semimix.ops import confident_pseudo_labels, masked_cross_entropy
from semimix.validation import bounded


@dataclass
class PseudoLabelParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # Oliver et al.
    threshold: float = bounded(0.95, ge=0, lt=1)  # only predictions at least this confident are used (0 = Lee's original)


class PseudoLabel(Method[PseudoLabelParams]):
    name = "pseudo-label"
    summary = "Pseudo-Label: confident predictions as hard labels (Lee 2013)"
    Params = PseudoLabelParams

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        logits = ctx.student(ctx.view(x_u))
        pseudo, mask = confident_pseudo_labels(logits, self.params.threshold)
        return {
            "supervised": supervised_loss(batch, ctx),
            "pseudo_label": self.params.weight * ctx.ramp * masked_cross_entropy(logits, pseudo, mask),
        }
