"""Π-model (Laine & Aila 2017; Sajjadi et al. 2016): two stochastic views of an unlabeled
sample should get the same prediction."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, divergence_field, trained
from semimix.methods.common import require_unlabeled, supervised_loss, target_logits
from semimix.ops import get_divergence
from semimix.validation import bounded


@dataclass
class PiModelParams(MethodParams):
    weight: float = bounded(20.0, ge=0)  # Oliver et al.'s maximum consistency weight
    divergence: str = divergence_field("mse")


class PiModel(Method[PiModelParams]):
    name = "pi-model"
    summary = "Π-model: two stochastic views agree (Laine & Aila 2017)"
    Params = PiModelParams

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled), (NO_GRAD, unlabeled), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        p = self.params
        # The second view is the target (stop-gradient, as Oliver et al.), so it costs no backward.
        target = torch.softmax(target_logits(ctx.student, ctx.view(x_u)), dim=-1)
        consistency = get_divergence(p.divergence)(ctx.student(ctx.view(x_u)), target)
        return {"supervised": supervised_loss(batch, ctx), "consistency": p.weight * ctx.ramp * consistency}
