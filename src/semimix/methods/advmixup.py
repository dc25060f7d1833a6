"""AdvMixup (Ma et al., Algorithm 1): the student's prediction at λx_i + (1−λ)x_j^adv should be
λf_t(x_i) + (1−λ)f_t(x_j), where x_j^adv is x_j's virtual adversarial sample (eq. 4) and f_t the
EMA teacher. λ → 0 gives VAT, r_adv = 0 gives ICT.

The two ablations of its Table III are the same loss with one switch each:
``adv-adv-mixup`` mixes two adversarial samples; ``advmixup-no-teacher`` takes targets (and the
perturbation's target) from the student instead of the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import FP32_NO_GRAD, NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, divergence_field, power_iterations, trained
from semimix.methods.common import own_target_logits, require_unlabeled, soft_targets, supervised_loss, target_logits
from semimix.ops import get_divergence, mix, pair_permutation, sample_lambda, vat_perturbation
from semimix.validation import bounded, choice


@dataclass
class AdvMixupParams(MethodParams):
    weight: float = bounded(100.0, ge=0)  # β; the paper: 50 / 100 / 100 for 1000 / 2000 / 4000 CIFAR-10 labels
    alpha: float = bounded(1.0, ge=0)  # Beta(α, α), 0: no mixing; the paper: 2.0 CIFAR-10, 0.1 SVHN
    epsilon: float = bounded(8.0, gt=0)  # ‖r_adv‖₂ in input units; the paper: 8.0 CIFAR-10 (ZCA), 3.5 SVHN
    xi: float = bounded(1e-6, gt=0)
    power_iterations: int = bounded(1, ge=1)
    divergence: str = divergence_field("mse-sum")  # D in eq. (2): the paper's MSE as its code computes it, Σ over classes (mse: mean, 1/C as strong)
    perturbation_divergence: str = divergence_field("mse-sum")  # D in eq. (4): the same (the code's default flag picks KL for both)
    perturbation_target: str = choice("teacher", ("teacher", "student"))  # eq. (4)'s f_t(x_j), reused, as the code's train_d; "student": f(x_j), one more pass
    per_sample_lambda: bool = False  # Algorithm 1 draws one λ per batch
    mix_logits: bool = False
    supervised_mixup_alpha: float = bounded(0.0, ge=0)  # the paper's L_nll is plain CE
    use_teacher: bool = True  # False: the 'w/o teacher model' ablation
    adversarial_both: bool = False  # True: the 'Adv-Adv Mixup' ablation


class AdvMixup(Method[AdvMixupParams]):
    name = "advmixup"
    summary = "AdvMixup: mix real and virtual-adversarial samples, EMA-teacher targets (Ma et al.)"
    Params = AdvMixupParams

    @property
    def needs_teacher(self) -> bool:
        return self.params.use_teacher

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        p = self.params
        teacher = [(NO_GRAD, unlabeled)] if p.use_teacher else []
        # the student's own prediction, as the perturbation's target or (no teacher) every target: float32, as in VAT
        own = [(FP32_NO_GRAD, unlabeled)] if p.perturbation_target == "student" or not p.use_teacher else []
        return [*trained(labeled), *teacher, *own, *power_iterations(unlabeled, p.power_iterations), *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = ctx.view(require_unlabeled(batch, self.name))
        p = self.params
        target_model = ctx.teacher if p.use_teacher else ctx.student
        assert target_model is not None
        t_logits = (target_logits if p.use_teacher else own_target_logits)(target_model, x_u)
        # Eq. (4): D[f_t(x_j), f(x_j + r)], reusing the target pass already paid for (the reference
        # code's training step does the same). With the student's own prediction as target the
        # first-order term vanishes and the power iteration finds VAT's curvature direction instead.
        own_target = p.perturbation_target == "student" and target_model is not ctx.student
        r_adv = vat_perturbation(
            ctx.student,
            x_u,
            torch.softmax(own_target_logits(ctx.student, x_u) if own_target else t_logits, dim=-1),
            epsilon=p.epsilon,
            xi=p.xi,
            power_iterations=p.power_iterations,
            divergence=get_divergence(p.perturbation_divergence),
        )
        x_adv = x_u + r_adv
        lam = sample_lambda(p.alpha, len(x_u) if p.per_sample_lambda else None, device=x_u.device)
        perm = pair_permutation(len(x_u), device=x_u.device)
        x_virtual = mix(x_adv if p.adversarial_both else x_u, x_adv[perm], lam)
        consistency = get_divergence(p.divergence)(ctx.student(x_virtual), soft_targets(t_logits, lam, perm, p.mix_logits))
        return {
            "supervised": supervised_loss(batch, ctx, p.supervised_mixup_alpha, p.per_sample_lambda),
            "consistency": p.weight * ctx.ramp * consistency,
        }


@dataclass
class AdvAdvMixupParams(AdvMixupParams):
    adversarial_both: bool = True


class AdvAdvMixup(AdvMixup):
    name = "adv-adv-mixup"
    summary = "AdvMixup ablation: mix two adversarial samples (Table III)"
    Params = AdvAdvMixupParams


@dataclass
class AdvMixupNoTeacherParams(AdvMixupParams):
    use_teacher: bool = False


class AdvMixupNoTeacher(AdvMixup):
    name = "advmixup-no-teacher"
    summary = "AdvMixup ablation: student targets instead of the EMA teacher (Table III)"
    Params = AdvMixupNoTeacherParams
