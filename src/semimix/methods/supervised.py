"""Supervised-only training on the labeled samples: the baseline every SSL method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import supervised_loss
from semimix.methods.target_linear import TargetLinearLoss, TargetLinearParams
from semimix.validation import bounded


@dataclass
class SupervisedParams(TargetLinearParams, MethodParams):
    """``loss: nc`` trains on the negative cosine to fixed class vectors (the DAT paper's baseline-NC)."""

    mixup_alpha: float = bounded(0.0, ge=0)  # > 0: input mixup (Zhang et al.) on the labeled batch


class Supervised(TargetLinearLoss[SupervisedParams], Method[SupervisedParams]):
    name = "supervised"
    summary = "Cross-entropy (or the DAT paper's NC loss) on the labeled samples only (optionally input mixup)"
    Params = SupervisedParams
    unlabeled = "unused"

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return trained(labeled)

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        target_loss = None if self.params.loss == "ce" else self.target_loss
        return {"supervised": supervised_loss(batch, ctx, self.params.mixup_alpha, target_loss=target_loss)}
