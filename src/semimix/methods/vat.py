"""Virtual Adversarial Training (Miyato et al. 2018): the prediction should not change along the
direction in which it changes fastest (found by power iteration), within an L2 ball of radius ε."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import (
    BACKWARD,
    FP32_FORWARD,
    FP32_NO_GRAD,
    Batch,
    Method,
    MethodParams,
    Pass,
    StepContext,
    divergence_field,
    power_iterations,
    trained,
)
from semimix.methods.common import own_target_logits, require_unlabeled, supervised_loss
from semimix.ops import class_imbalance, entropy, frozen_batchnorm, full_precision, get_divergence, vat_perturbation
from semimix.validation import bounded


@dataclass
class VATParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # VAT's code; Oliver et al. use 0.3
    epsilon: float = bounded(6.0, gt=0)  # in input units (after normalisation); Oliver et al. CIFAR-10
    xi: float = bounded(1e-6, gt=0)
    power_iterations: int = bounded(1, ge=1)
    divergence: str = divergence_field("kl")  # KL(p_clean ‖ p_adv), VAT's direction
    entmin_weight: float = bounded(0.0, ge=0)  # > 0 adds entropy minimisation (VAT+EntMin)
    # > 0 adds IMSAT's class-balance term (Hu et al. 2017), log C − H(mean prediction on the unlabeled
    # batch): not VAT's; with very few labels it keeps one class from absorbing another
    balance_weight: float = bounded(0.0, ge=0)


class VAT(Method[VATParams]):
    name = "vat"
    summary = "VAT: smooth along the virtual adversarial direction (Miyato et al. 2018)"
    Params = VATParams

    @property
    def trains_clean_pass(self) -> bool:
        """Whether a term needs the clean unlabeled pass with gradient (entropy or class balance)."""
        return self.params.entmin_weight > 0 or self.params.balance_weight > 0

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        # the clean pass is the power iteration's target, so it runs in float32 (its backward is costed as a bf16 one)
        clean = [(FP32_FORWARD, unlabeled), (BACKWARD, unlabeled)] if self.trains_clean_pass else [(FP32_NO_GRAD, unlabeled)]
        return [*trained(labeled), *clean, *power_iterations(unlabeled, self.params.power_iterations), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = ctx.view(require_unlabeled(batch, self.name))
        p = self.params
        divergence = get_divergence(p.divergence)
        terms = {"supervised": supervised_loss(batch, ctx)}
        if self.trains_clean_pass:
            with frozen_batchnorm(ctx.student), full_precision(x_u):  # also the power iteration's own target
                clean_logits = ctx.student(x_u)
            if p.entmin_weight > 0:
                terms["entropy"] = p.entmin_weight * ctx.ramp * entropy(clean_logits)
            if p.balance_weight > 0:
                terms["balance"] = p.balance_weight * ctx.ramp * class_imbalance(clean_logits)
            clean_logits = clean_logits.detach()
        else:
            clean_logits = own_target_logits(ctx.student, x_u)
        target = torch.softmax(clean_logits, dim=-1)
        r_adv = vat_perturbation(ctx.student, x_u, target, epsilon=p.epsilon, xi=p.xi, power_iterations=p.power_iterations, divergence=divergence)
        with frozen_batchnorm(ctx.student):  # VAT's code: perturbed passes never update BN statistics
            terms["vat"] = p.weight * ctx.ramp * divergence(ctx.student(x_u + r_adv), target)
        return terms
