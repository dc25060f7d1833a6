"""Supervised-only training on the labeled samples: the baseline every SSL method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import Batch, Method, MethodParams, Pass, StepContext, check, trained
from semimix.methods.common import supervised_loss
from semimix.methods.target_linear import TargetLinearLoss, TargetLinearParams


@dataclass
class SupervisedParams(TargetLinearParams, MethodParams):
    """``loss: nc`` trains on the negative cosine to fixed class vectors (the DAT paper's baseline-NC)."""

    mixup_alpha: float = 0.0  # > 0: input mixup (Zhang et al.) on the labeled batch


class Supervised(TargetLinearLoss, Method):
    name = "supervised"
    summary = "Cross-entropy (or the DAT paper's NC loss) on the labeled samples only (optionally input mixup)"
    Params = SupervisedParams
    unlabeled = "unused"

    def validate(self) -> None:
        self.validate_target_loss()
        check(self.params.mixup_alpha >= 0, f"{self.name}: mixup_alpha must be >= 0, got {self.params.mixup_alpha}")

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return trained(labeled)

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        target_loss = None if self.params.loss == "ce" else self.target_loss
        return {"supervised": supervised_loss(batch, ctx, self.params.mixup_alpha, target_loss=target_loss)}
