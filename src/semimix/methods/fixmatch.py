"""FixMatch (Sohn et al. 2020): the prediction on a weak view of an unlabeled sample, where it is
confident, becomes the hard label of a strong view (RandAugment + Cutout) of the same sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from typing_extensions import TypeVar  # a TypeVar with a default (PEP 696; typing has it from Python 3.13)

from semimix.methods.base import Batch, Method, MethodParams, P, Pass, StepContext, trained
from semimix.methods.common import require_unlabeled
from semimix.ops import confident_pseudo_labels, masked_cross_entropy
from semimix.validation import bounded


@dataclass
class FixMatchParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # λ_u (official `wu`)
    threshold: float = bounded(0.95, ge=0, le=1)  # confidence τ on stop_gradient(softmax(weak))


class WeakStrongMethod(Method[P]):
    """FixMatch and the methods built on it (UDA, FlexMatch, FreeMatch, SoftMatch) or beside it (ReMixMatch): the weak view
    of an unlabeled sample makes the target of its strong view, and their papers report the EMA model."""

    @property
    def evaluates_ema(self) -> bool:
        return True

    @property
    def needs_strong_view(self) -> bool:
        return True

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return trained(labeled + 2 * unlabeled)  # labeled, weak and strong views in one forward

    def view_logits(self, batch: Batch, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of the labeled batch, the weak and the strong views of the unlabeled batch, from one
        forward of them together, as the official codes: BN statistics come from the whole step's
        batch, updated once."""
        x_u = require_unlabeled(batch, self.name)
        n_l, n_u = len(batch.x_l), len(x_u)
        logits = ctx.student(torch.cat([ctx.view(batch.x_l), ctx.view(x_u), ctx.strong_view(x_u)]))
        logits_l, logits_weak, logits_strong = logits.split([n_l, n_u, n_u])
        return logits_l, logits_weak, logits_strong


FP = TypeVar("FP", bound=FixMatchParams, default=FixMatchParams)


class FixMatch(WeakStrongMethod[FP]):
    """Generic in its params, ``FixMatchParams`` unless a subclass says otherwise, so that FlexMatch
    (FixMatch with flexible thresholds) subclasses it as ``FixMatch[FlexMatchParams]``."""

    name = "fixmatch"
    summary = "FixMatch: confident weak-view predictions label strong views (Sohn et al. 2020)"
    Params: ClassVar[type[MethodParams]] = FixMatchParams

    def thresholds(self, logits_weak: torch.Tensor, batch: Batch, ctx: StepContext) -> float | torch.Tensor:
        """The confidence a weak-view prediction must reach to label its strong view: FixMatch's fixed τ."""
        return self.params.threshold

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        logits_l, logits_weak, logits_strong = self.view_logits(batch, ctx)
        pseudo, mask = confident_pseudo_labels(logits_weak, self.thresholds(logits_weak, batch, ctx))
        return {
            "supervised": F.cross_entropy(logits_l, batch.y_l),
            "consistency": self.params.weight * ctx.ramp * masked_cross_entropy(logits_strong, pseudo, mask),
        }
