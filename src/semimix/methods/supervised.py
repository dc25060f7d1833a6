"""Supervised-only training on the labeled samples: the baseline every SSL method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import supervised_loss


@dataclass
class SupervisedParams(MethodParams):
    mixup_alpha: float = 0.0  # > 0: input mixup (Zhang et al.) on the labeled batch


class Supervised(Method):
    name = "supervised"
    summary = 'Cross-entropy on the labeled samples only (optionally input mixup)'
    Params = SupervisedParams
    unlabeled = "unused"

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return trained(labeled)

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"supervised": supervised_loss(batch, ctx, self.params.mixup_alpha)}
