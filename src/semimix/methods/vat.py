"""Virtual Adversarial Training (Miyato et al. 2018): the prediction should not change along the
direction in which it changes fastest (found by power iteration), within an L2 ball of radius ε."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, divergence_field, power_iterations, trained
from semimix.methods.common import require_unlabeled, supervised_loss, target_logits
from semimix.ops import entropy, frozen_batchnorm, get_divergence, vat_perturbation
from semimix.validation import bounded


@dataclass
class VATParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # VAT's code; Oliver et al. use 0.3
    epsilon: float = bounded(6.0, gt=0)  # in input units (after normalisation); Oliver et al. CIFAR-10
    xi: float = bounded(1e-6, gt=0)
    power_iterations: int = bounded(1, ge=1)
    divergence: str = divergence_field("kl")  # KL(p_clean ‖ p_adv), VAT's direction
    entmin_weight: float = bounded(0.0, ge=0)  # > 0 adds entropy minimisation (VAT+EntMin)


class VAT(Method[VATParams]):
    name = "vat"
    summary = "VAT: smooth along the virtual adversarial direction (Miyato et al. 2018)"
    Params = VATParams

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        clean = trained(unlabeled) if self.params.entmin_weight > 0 else [(NO_GRAD, unlabeled)]
        return [*trained(labeled), *clean, *power_iterations(unlabeled, self.params.power_iterations), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = ctx.view(require_unlabeled(batch, self.name))
        p = self.params
        divergence = get_divergence(p.divergence)
        terms = {"supervised": supervised_loss(batch, ctx)}
        if p.entmin_weight > 0:  # the entropy term needs the clean pass with gradient
            with frozen_batchnorm(ctx.student):
                clean_logits = ctx.student(x_u)
            terms["entropy"] = p.entmin_weight * ctx.ramp * entropy(clean_logits)
            clean_logits = clean_logits.detach()
        else:
            clean_logits = target_logits(ctx.student, x_u)
        target = torch.softmax(clean_logits, dim=-1)
        r_adv = vat_perturbation(ctx.student, x_u, target, epsilon=p.epsilon, xi=p.xi, power_iterations=p.power_iterations, divergence=divergence)
        with frozen_batchnorm(ctx.student):  # VAT's code: perturbed passes never update BN statistics
            terms["vat"] = p.weight * ctx.ramp * divergence(ctx.student(x_u + r_adv), target)
        return terms
