"""Supervised-only training on the labeled samples: the baseline every SSL method must beat."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import Batch, Method, MethodParams, StepContext
from semimix.methods.common import supervised_loss


@dataclass
class SupervisedParams(MethodParams):
    mixup_alpha: float = 0.0  # > 0: input mixup (Zhang et al.) on the labeled batch


class Supervised(Method):
    name = "supervised"
    summary = 'Cross-entropy on the labeled samples only (optionally input mixup)'
    Params = SupervisedParams
    unlabeled = "unused"

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        return {"supervised": supervised_loss(batch, ctx, self.params.mixup_alpha)}
