"""Pseudo-Label (Lee 2013): confident predictions on unlabeled samples become hard labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.methods.base import Batch, Method, MethodParams, StepContext, check
from semimix.methods.common import require_unlabeled, supervised_loss


@dataclass
class PseudoLabelParams(MethodParams):
    weight: float = 1.0  # Oliver et al.
    threshold: float = 0.95  # only predictions at least this confident are used (0 = Lee's original)


class PseudoLabel(Method):
    name = "pseudo-label"
    summary = 'Pseudo-Label: confident predictions as hard labels (Lee 2013)'
    Params = PseudoLabelParams

    def validate(self) -> None:
        check(0 <= self.params.threshold < 1, f"{self.name}: threshold must be in [0, 1), got {self.params.threshold}")

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        logits = ctx.student(ctx.augment(x_u))
        confidence, pseudo = torch.softmax(logits.detach(), dim=-1).max(dim=-1)
        mask = (confidence >= self.params.threshold).to(logits.dtype)
        # Masked samples stay in the denominator, so the term does not jump as the mask fills.
        per_sample = F.cross_entropy(logits, pseudo, reduction="none")
        return {
            "supervised": supervised_loss(batch, ctx),
            "pseudo_label": self.params.weight * ctx.ramp * (per_sample * mask).mean(),
        }
