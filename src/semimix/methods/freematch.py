"""FreeMatch (Wang et al. 2023): FixMatch whose confidence threshold follows the model's learning
status instead of a fixed 0.95, plus a fairness term that keeps its pseudo-labels spread over classes.

Self-adaptive thresholding: a global threshold τ_t, the EMA of the unlabeled batches' mean
max-confidence, starts at 1/C (every weak prediction counts while the model knows little) and rises
as it learns; each class c is held to τ_t(c) = MaxNorm(p̃_t)(c)·τ_t, where p̃_t is the EMA of the mean
predicted distribution, so classes the model predicts less get a lower bar. Self-adaptive fairness,
the paper's term for diverse predictions early in training: −H(SumNorm(p̃_t/h̃_t), SumNorm(p̄/h̄)), a
negative cross-entropy (so ≤ 0), with h̃_t the EMA histogram of the weak views' hard labels and p̄, h̄
the mean prediction and histogram of this batch's strong views that passed. τ, p̃ and h̃ travel in
checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.methods.averages import KeepsAverages
from semimix.methods.base import Batch, MethodParams, StepContext
from semimix.methods.fixmatch import WeakStrongMethod
from semimix.ops import confident_pseudo_labels, masked_cross_entropy, one_hot
from semimix.validation import bounded

# Inside the fairness term's log, as the authors' code: a class that no passed strong view predicts
# has SumNorm(p̄/h̄) = 0 there.
LOG_FLOOR = 1e-12


@dataclass
class FreeMatchParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # λ_u (paper; USB and TorchSSL ulb_loss_ratio 1.0)
    # λ_f: the paper's own code (TorchSSL freematch_entropy configs, every dataset) and USB's argument default
    # 0.01; USB's shipped classic_cv configs set 0.001 (ent_loss_ratio)
    fairness_weight: float = bounded(0.01, ge=0)
    momentum: float = bounded(0.999, ge=0, lt=1)  # EMA λ of τ, p̃ and h̃ (paper; USB ema_p, TorchSSL's fixed 0.999)


def local_thresholds(global_threshold: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
    """τ_t(c) = MaxNorm(p̃_t)(c)·τ_t: the global threshold for the class predicted most, lowered in
    proportion for the others, so classes the model is still learning are not starved of labels."""
    return global_threshold * class_probs / class_probs.max()


def frequency_normalised(probs: torch.Tensor, histogram: torch.Tensor) -> torch.Tensor:
    """SumNorm(p / h): a mean prediction divided by how often each class is the hard label, summing to
    1 (0 for a class with an empty bin, as the code's 1/h with inf replaced by 0)."""
    weighted = probs * torch.where(histogram > 0, histogram.reciprocal(), 0.0)
    return weighted / weighted.sum().clamp_min(torch.finfo(weighted.dtype).tiny)


def fairness_loss(logits_strong: torch.Tensor, mask: torch.Tensor, class_probs: torch.Tensor, label_hist: torch.Tensor) -> torch.Tensor:
    """L_f = −H(SumNorm(p̃/h̃), SumNorm(p̄/h̄)) = Σ_c SumNorm(p̃/h̃)_c · log SumNorm(p̄/h̄)_c over the strong
    views whose weak view passed (``mask``), 0 when none did. Rows are weighted by the mask rather than
    selected, so the step needs no host sync."""
    probs = torch.softmax(logits_strong, dim=-1)
    passed = mask.sum()
    mean_probs = (mask[:, None] * probs).sum(dim=0) / passed.clamp_min(1)
    histogram = (mask[:, None] * one_hot(probs.detach().argmax(dim=-1), probs.shape[1], probs.dtype)).sum(dim=0)
    target = frequency_normalised(class_probs, label_hist)
    return (target * torch.log(frequency_normalised(mean_probs, histogram) + LOG_FLOOR)).sum() * (passed > 0)


class FreeMatch(KeepsAverages, WeakStrongMethod[FreeMatchParams]):
    """Its averages: "threshold" τ_t, "class_probs" p̃_t, "label_hist" h̃_t."""

    name = "freematch"
    summary = "FreeMatch: FixMatch with self-adaptive global and class thresholds and a fairness term (Wang et al. 2023)"
    Params = FreeMatchParams

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p, uniform = self.params, 1 / ctx.num_classes
        logits_l, logits_weak, logits_strong = self.view_logits(batch, ctx)
        # The statistics take this batch in before it is thresholded, as the authors' code.
        probs = torch.softmax(logits_weak.detach().float(), dim=-1)
        confidence, labels = probs.max(dim=-1)
        threshold = self.averages.update("threshold", confidence.mean(), p.momentum, uniform)
        class_probs = self.averages.update("class_probs", probs.mean(dim=0), p.momentum, uniform)
        label_hist = self.averages.update("label_hist", one_hot(labels, ctx.num_classes).mean(dim=0), p.momentum, uniform)
        pseudo, mask = confident_pseudo_labels(logits_weak, local_thresholds(threshold, class_probs))
        return {
            "supervised": F.cross_entropy(logits_l, batch.y_l),
            "consistency": p.weight * ctx.ramp * masked_cross_entropy(logits_strong, pseudo, mask),
            "fairness": p.fairness_weight * ctx.ramp * fairness_loss(logits_strong, mask, class_probs, label_hist),
        }
