"""Untied MixUp (the DAT paper, sec. 3): train on x̃ = λx + (1−λ)x' with the target γ(λ)y + (1−γ(λ))y',
the label weight γ "untied" from the input weight λ. The default policy U(B(α, β)) draws λ from
(p(λ) + p(1−λ))/2 with γ = p(λ)/(p(λ) + p(1−λ)), p = Beta(α, β); U(B(α+1, α)) is mixup with
Beta(α, α). With unlabeled data the same mix is a consistency term on EMA-teacher targets, as
input mixup is in ICT. The baseline loss ℓ_b is target-linear: cross-entropy, or the negative
cosine to fixed random class vectors (then the model must output ``nc_dim`` features; see
``output_dim`` and ``class_scores``).

Pairing: ``permutation`` pairs each labeled sample with one of the same batch; ``independent``
(the paper's and its code's default) takes x' from a second, independently shuffled labeled
stream, which the trainer passes as ``batch.x_l2, batch.y_l2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from typing_extensions import TypeVar  # a TypeVar with a default (PEP 696; typing has it from Python 3.13)

from semimix.errors import SemimixError
from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, check, divergence_field, trained
from semimix.methods.common import soft_targets, target_logits
from semimix.methods.target_linear import TargetLinearLoss, TargetLinearParams
from semimix.ops import (
    gamma_function,
    get_divergence,
    mix,
    negative_cosine,
    one_hot,
    pair_permutation,
    sample_beta,
    sample_untied,
)
from semimix.validation import bounded, choice

PAIRINGS = ("permutation", "independent")


@dataclass
class TargetMixParams(TargetLinearParams, MethodParams):
    """What DAT and Untied MixUp share (ℓ_b's loss, nc_dim and nc_seed from TargetLinearParams)."""

    alpha: float = bounded(2.0, gt=0)  # Beta(α, β); the reference code's default (2, 1) equals mixup with Beta(1, 1)
    beta: float = bounded(1.0, gt=0)
    per_sample_lambda: bool = True  # the paper draws λ per sample; False: one λ per batch
    pairing: str = choice("permutation", PAIRINGS)  # or "independent" (the paper's): x' from a second labeled stream
    weight: float = bounded(100.0, ge=0)  # consistency weight on unlabeled data (ICT's CIFAR-10 value)
    divergence: str = divergence_field("mse")  # consistency divergence for loss "ce"; loss "nc" uses the NC loss itself
    use_teacher: bool = True  # consistency targets from the EMA teacher (ICT); False: from the student


@dataclass
class UntiedMixupParams(TargetMixParams):
    # None (or "untied"): U(B(α, β)) with its own γ. A preset ("mixup": γ = λ, "first", "beta-cdf:a,b") or a
    # callable λ ↦ γ: λ ~ Beta(α, β) unsymmetrised (the reference code without --dat_transform).
    gamma: Any = None


TM = TypeVar("TM", bound=TargetMixParams, default=UntiedMixupParams)


class UntiedMixup(TargetLinearLoss[TM], Method[TM]):
    """Generic in its params, ``UntiedMixupParams`` unless a subclass says otherwise, so that DAT
    (whose params lack ``gamma``) can subclass it as ``UntiedMixup[DATParams]``."""

    name = "untied-mixup"
    summary = "Untied MixUp: mix inputs with λ, labels with γ(λ); policy U(B(α,β)) (MixUp as DAT paper)"
    Params: ClassVar[type[MethodParams]] = UntiedMixupParams
    unlabeled = "optional"  # without unlabeled data it is the paper's supervised regulariser

    def check_params(self) -> None:
        gamma = getattr(self.params, "gamma", None)  # a policy given as a name or a callable: parsed, not declared
        try:
            self._gamma = None if gamma in (None, "untied") else gamma_function(gamma)
        except ValueError as exc:
            raise SemimixError(f"{self.name}: {exc}") from None

    @property
    def needs_teacher(self) -> bool:
        return self.params.use_teacher

    # ------------------------------------------------------------------ the policy and ℓ_b
    def draw(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(λ, γ): input and label weights for n pairs (one pair of scalars per batch if not per sample)."""
        p, shape = self.params, ((n,) if self.params.per_sample_lambda else ())
        if self._gamma is None:
            return sample_untied(p.alpha, p.beta, shape, device)
        lam = sample_beta(p.alpha, p.beta, shape, device)
        return lam, self._gamma(lam)

    # ------------------------------------------------------------------ model integration
    @property
    def needs_second_labeled_batch(self) -> bool:
        return self.params.pairing == "independent"

    # ------------------------------------------------------------------ the loss
    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        # The labeled pairs are mixed before the one labeled forward; with unlabeled data, a target
        # pass (teacher, or the student without grad) and the forward of the mixed unlabeled batch.
        return [*trained(labeled), *([(NO_GRAD, unlabeled), *trained(unlabeled)] if unlabeled else [])]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        terms = {"supervised": self.supervised(batch, ctx)}
        if batch.x_u is not None:
            terms["consistency"] = self.params.weight * ctx.ramp * self.consistency(ctx.view(batch.x_u), ctx)
        return terms

    def supervised(self, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """ℓ_b(F(λx + (1−λ)x'), γy + (1−γ)y') on labeled pairs."""
        x, y = ctx.view(batch.x_l), one_hot(batch.y_l, ctx.num_classes)
        x2, y2 = self._partners(batch, ctx, x, y)
        lam, gamma = self.draw(len(x), x.device)
        return self.target_loss(ctx.student(mix(x, x2, lam)), mix(y, y2, gamma))

    def _partners(self, batch: Batch, ctx: StepContext, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.params.pairing == "permutation":
            perm = pair_permutation(len(x), device=x.device)
            return x[perm], y[perm]
        x_l2, y_l2 = batch.x_l2, batch.y_l2
        if x_l2 is None or y_l2 is None:
            raise SemimixError(
                f"{self.name}: pairing 'independent' needs a second labeled batch (batch.x_l2, batch.y_l2) "
                "from an independent labeled stream; this trainer gives none, use pairing 'permutation'"
            )
        check(len(x_l2) == len(x), f"{self.name}: the second labeled batch has {len(x_l2)} samples, the first {len(x)}")
        return ctx.view(x_l2), one_hot(y_l2, ctx.num_classes)

    def consistency(self, x_u: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """D(F(λx + (1−λ)x'), γ·f_t(x) + (1−γ)·f_t(x')) on in-batch pairs of unlabeled samples,
        f_t the teacher's probabilities (CE) or normalised outputs (NC), as ICT does with γ = λ."""
        teacher = ctx.teacher if self.params.use_teacher and ctx.teacher is not None else ctx.student
        t_out = target_logits(teacher, x_u)
        perm = pair_permutation(len(x_u), device=x_u.device)
        lam, gamma = self.draw(len(x_u), x_u.device)
        outputs = ctx.student(mix(x_u, x_u[perm], lam))
        if self.params.loss == "ce":
            return get_divergence(self.params.divergence)(outputs, soft_targets(t_out, gamma, perm, mix_logits=False))
        self.check_nc_outputs(outputs)
        z = F.normalize(t_out, dim=-1)
        return negative_cosine(outputs, mix(z, z[perm], gamma))
