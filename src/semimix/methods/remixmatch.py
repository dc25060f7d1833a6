"""ReMixMatch (Berthelot et al. 2020): MixMatch whose label guess comes from a weak view, aligned to
the labeled class distribution and sharpened, and is then the target of K strong views (augmentation
anchoring); labeled and unlabeled views are mixed as in MixMatch and trained with cross-entropy. Two
terms more: the first strong view, unmixed, against the guess (the paper's pre-mixup loss), and a
self-supervised rotation loss on that view, from 4 extra outputs of the network (a linear rotation
head on the shared features, as the codes' ``classify_rot``).

Distribution alignment: q ← Normalize(q · p(y) / p̃(y)), with p(y) the labeled set's class frequencies
(``StepContext.class_prior``, as USB; the official code estimates them by an EMA of the labeled batches'
labels, which tends to the same) and p̃(y) the mean prediction over the last 128 unlabeled batches (kept in
checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from semimix.methods.base import NO_GRAD, Batch, MethodParams, Pass, StepContext, check, trained
from semimix.methods.common import require_unlabeled, target_logits
from semimix.methods.fixmatch import WeakStrongMethod
from semimix.methods.mixmatch import mixmatch_mixup
from semimix.ops import frozen_batchnorm, one_hot, pair_permutation, sample_lambda, sharpen, soft_cross_entropy
from semimix.validation import bounded

ROTATIONS = 4  # 0, 90, 180 and 270 degrees
# Added to both distributions of the alignment ratio, as the official guess_label: a class that p̃ has
# not predicted yet does not divide by zero.
ALIGNMENT_FLOOR = 1e-6


@dataclass
class ReMixMatchParams(MethodParams):
    # Defaults: the official code (google-research/remixmatch, remixmatch_no_cta.py flags, cta/cta_remixmatch.py;
    # runs/ssl/cifar10.sh passes K=8); USB's remixmatch has the same weights and K = 2.
    weight: float = bounded(1.5, ge=0)  # λ_u on the mixed unlabeled views (`w_match`; USB ulb_loss_ratio 1.5), ramped
    pre_mixup_weight: float = bounded(0.5, ge=0)  # λ_û1 on the first strong view unmixed (`w_kl`; USB kl_loss_ratio), ramped
    rotation_weight: float = bounded(0.5, ge=0)  # λ_r (`w_rot`; USB rot_loss_ratio); 0 for data that are not square images
    augmentations: int = bounded(8, ge=1)  # K strong views per unlabeled sample (paper and runs/ssl/cifar10.sh; USB 2)
    temperature: float = bounded(0.5, gt=0)  # T of the sharpening
    alpha: float = bounded(0.75, gt=0)  # Beta(α, α) of the mixup (`beta`)
    alignment: bool = True  # distribution alignment (`use_dm`)
    alignment_batches: int = bounded(128, ge=1)  # p̃ averages the last this many batches' mean predictions (`dbuf`)


def align_distribution(probs: torch.Tensor, prior: torch.Tensor, model_marginal: torch.Tensor) -> torch.Tensor:
    """Normalize(q · (ε + p(y)) / (ε + p̃(y))) per row: predictions rescaled so that, on average, they
    follow the labeled class distribution rather than the classes the model currently favours."""
    ratio = (ALIGNMENT_FLOOR + prior) / (ALIGNMENT_FLOOR + model_marginal)
    weighted = probs * ratio
    return weighted / weighted.sum(dim=-1, keepdim=True)


def rotated_quarters(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's k-th quarter rotated by k·90 degrees, k = 0..3 (the official random_rotate), and the
    rotation labels k; images only (N, C, H, H)."""
    check(
        x.dim() == 4 and x.shape[-1] == x.shape[-2],
        f"remixmatch's rotation term rotates square images (N, C, H, H), but the inputs have shape {tuple(x.shape)}; "
        "set method_params.remixmatch.rotation_weight: 0 for other data",
    )
    n = len(x)
    bounds = [-(-k * n // ROTATIONS) for k in range(ROTATIONS + 1)]  # quarter k is rows ceil(kn/4)..ceil((k+1)n/4) - 1
    labels = torch.arange(n, device=x.device) * ROTATIONS // n  # the same rows' k, built on the device (slices need no sync)
    return torch.cat([torch.rot90(x[bounds[k] : bounds[k + 1]], k, dims=(2, 3)) for k in range(ROTATIONS)]), labels


class ReMixMatch(WeakStrongMethod[ReMixMatchParams]):
    """Augmentation anchoring is where FixMatch's weak-to-strong target comes from, so it shares FixMatch's
    needs (the strong view, the EMA model evaluated); its own passes and losses."""

    name = "remixmatch"
    summary = "ReMixMatch: aligned, sharpened weak-view guesses anchor K strong views; mixup; rotation (Berthelot et al. 2020)"
    Params = ReMixMatchParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.model_marginals: torch.Tensor | None = None  # (alignment_batches, C): the batches' mean predictions, oldest first

    def output_dim(self, num_classes: int) -> int:
        return num_classes + (ROTATIONS if self.params.rotation_weight > 0 else 0)

    def class_scores(self, outputs: torch.Tensor, num_classes: int) -> torch.Tensor:
        """The class logits: the outputs before the rotation head's."""
        check(
            outputs.shape[-1] == self.output_dim(num_classes),
            f"remixmatch with a rotation term needs a network of {self.output_dim(num_classes)} outputs ({num_classes} classes + "
            f"{ROTATIONS} rotations), got {outputs.shape[-1]}; build it with method.output_dim(num_classes) outputs "
            "or set method_params.remixmatch.rotation_weight: 0",
        )
        return outputs[..., :num_classes]

    def state_dict(self) -> dict[str, Any]:
        return {} if self.model_marginals is None else {"model_marginals": self.model_marginals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model_marginals = state.get("model_marginals")

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        p = self.params
        passes = [(NO_GRAD, unlabeled), *trained(labeled + (p.augmentations + 1) * unlabeled)]  # the guess, the mixed batch
        passes += trained(unlabeled) if p.pre_mixup_weight > 0 else []
        return passes + (trained(unlabeled) if p.rotation_weight > 0 else [])

    def guess(self, logits_weak: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """The weak view's prediction, aligned to the labeled class distribution with p̃ from the batches
        before this one, then sharpened; this batch's mean prediction then joins p̃ (as the official
        code's update after the step)."""
        probs = torch.softmax(logits_weak.float(), dim=-1)
        if self.params.alignment:
            marginals = self.model_marginals
            if marginals is None:  # the official buffer starts uniform
                marginals = torch.full((self.params.alignment_batches, ctx.num_classes), 1 / ctx.num_classes, device=probs.device)
            marginals = marginals.to(probs.device)
            prior = ctx.class_prior.to(probs.device) if ctx.class_prior is not None else torch.full_like(marginals[0], 1 / ctx.num_classes)
            aligned = align_distribution(probs, prior, marginals.mean(dim=0))
            self.model_marginals = torch.cat([marginals[1:], probs.mean(dim=0, keepdim=True)])
            probs = aligned
        return sharpen(probs, self.params.temperature)

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        x_u = require_unlabeled(batch, self.name)
        p, classes = self.params, ctx.num_classes
        n_l = len(batch.x_l)
        weak = ctx.view(x_u)
        # The guess pass needs no gradient and leaves BN statistics alone, as the official one (its updates skipped).
        targets_u = self.guess(self.class_scores(target_logits(ctx.student, weak), classes), ctx)
        strong = [ctx.strong_view(x_u) for _ in range(p.augmentations)]
        x = torch.cat([ctx.view(batch.x_l), weak, *strong])  # the official 'xxy.yxy': the weak view is mixed too
        targets = torch.cat([one_hot(batch.y_l, classes), targets_u.repeat(p.augmentations + 1, 1)])
        x_mixed, t_mixed = mixmatch_mixup(x, targets, sample_lambda(p.alpha, len(x), device=x.device), pair_permutation(len(x), device=x.device))
        # One forward of the whole mixed batch, BN statistics updated (MixMatch's choice here, see mixmatch.py).
        logits = self.class_scores(ctx.student(x_mixed), classes)
        terms = {
            "supervised": soft_cross_entropy(logits[:n_l], t_mixed[:n_l]),
            "consistency": p.weight * ctx.ramp * soft_cross_entropy(logits[n_l:], t_mixed[n_l:]),
        }
        # The two extra passes normalise with their own batch statistics but update none, as the official ones.
        if p.pre_mixup_weight > 0:
            with frozen_batchnorm(ctx.student):
                logits_strong = self.class_scores(ctx.student(strong[0]), classes)
            terms["pre_mixup"] = p.pre_mixup_weight * ctx.ramp * soft_cross_entropy(logits_strong, targets_u)
        if p.rotation_weight > 0:  # not ramped, as the official code
            rotated, labels = rotated_quarters(strong[0])
            with frozen_batchnorm(ctx.student):
                logits_rotation = ctx.student(rotated)[..., classes:]
            terms["rotation"] = p.rotation_weight * F.cross_entropy(logits_rotation, labels)
        return terms
