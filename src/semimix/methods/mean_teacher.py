"""Mean Teacher (Tarvainen & Valpola 2017): the student's prediction on one view should match
an EMA-of-weights teacher's prediction on another view."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, divergence_field, trained
from semimix.methods.common import require_unlabeled, target_logits
from semimix.ops import get_divergence
from semimix.validation import bounded


@dataclass
class MeanTeacherParams(MethodParams):
    weight: float = bounded(8.0, ge=0)  # Oliver et al.'s maximum consistency weight
    divergence: str = divergence_field("mse")
    include_labeled: bool = True  # consistency on the labeled samples too, as the MT code does


class MeanTeacher(Method[MeanTeacherParams]):
    name = "mean-teacher"
    summary = "Mean Teacher: agree with an EMA-of-weights teacher (Tarvainen & Valpola 2017)"
    Params = MeanTeacherParams

    @property
    def needs_teacher(self) -> bool:
        return True

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled + unlabeled), (NO_GRAD, labeled + unlabeled if self.params.include_labeled else unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        p = self.params
        n_l = len(batch.x_l)
        # One student forward over labeled + unlabeled: CE on the first part, consistency on all.
        x_all = torch.cat([batch.x_l, x_u])
        logits = ctx.student(ctx.view(x_all))
        cons_from = 0 if p.include_labeled else n_l
        assert ctx.teacher is not None
        teacher_probs = torch.softmax(target_logits(ctx.teacher, ctx.view(x_all[cons_from:])), dim=-1)
        consistency = get_divergence(p.divergence)(logits[cons_from:], teacher_probs)
        return {
            "supervised": F.cross_entropy(logits[:n_l], batch.y_l),
            "consistency": p.weight * ctx.ramp * consistency,
        }
