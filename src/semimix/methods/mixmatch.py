"""MixMatch (Berthelot et al. 2019): guess labels for unlabeled samples by averaging the predictions
on K augmentations and sharpening them, then mixup the labeled and unlabeled batches together
(λ' = max(λ, 1−λ), one λ per sample) and train with CE on the labeled part, MSE on the unlabeled."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, trained
from semimix.methods.common import require_unlabeled, target_logits
from semimix.ops import dominant_lambda, mix, one_hot, pair_permutation, sample_lambda, sharpen, soft_cross_entropy, softmax_mse
from semimix.validation import bounded


@dataclass
class MixMatchParams(MethodParams):
    weight: float = bounded(75.0, ge=0)  # λ_u, CIFAR-10 (official runs/table5.sh); ramp it linearly (rampup.shape: linear)
    augmentations: int = bounded(2, ge=1)  # K
    temperature: float = bounded(0.5, gt=0)  # T of the sharpening
    alpha: float = bounded(0.75, gt=0)  # Beta(α, α) of the mixup


def mixmatch_mixup(x: torch.Tensor, targets: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row mixed with row perm[i] of the same (labeled + unlabeled) batch with its own
    λ' = max(λ_i, 1−λ_i), inputs and targets alike (official MixMode 'xxy.yxy')."""
    lam = dominant_lambda(lam)
    return mix(x, x[perm], lam), mix(targets, targets[perm], lam)


class MixMatch(Method[MixMatchParams]):
    name = "mixmatch"
    summary = "MixMatch: sharpened guessed labels, mixup of labeled and unlabeled (Berthelot et al. 2019)"
    Params = MixMatchParams

    @property
    def evaluates_ema(self) -> bool:
        return True

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        k = self.params.augmentations  # the K guess views in one no-grad pass, then one mixed forward
        return [(NO_GRAD, k * unlabeled), *trained(labeled + k * unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        p = self.params
        n_l = len(batch.x_l)
        views_u = torch.cat([ctx.view(x_u) for _ in range(p.augmentations)])
        # Label guess: mean softmax over the K views, without gradient and leaving BN statistics alone
        # (the official guess passes do not update them).
        guess = torch.softmax(target_logits(ctx.student, views_u), dim=-1).view(p.augmentations, len(x_u), -1).mean(0)
        targets_u = sharpen(guess, p.temperature).repeat(p.augmentations, 1)
        x = torch.cat([ctx.view(batch.x_l), views_u])
        targets = torch.cat([one_hot(batch.y_l, ctx.num_classes), targets_u])
        lam = sample_lambda(p.alpha, len(x), device=x.device)
        x_mixed, t_mixed = mixmatch_mixup(x, targets, lam, pair_permutation(len(x), device=x.device))
        # One forward of the whole mixed batch: BN statistics are those of labeled and unlabeled
        # samples together, what the official interleave achieves across its K+1 forward batches.
        logits = ctx.student(x_mixed)
        return {
            "supervised": soft_cross_entropy(logits[:n_l], t_mixed[:n_l]),
            "consistency": p.weight * ctx.ramp * softmax_mse(logits[n_l:], t_mixed[n_l:]),
        }
