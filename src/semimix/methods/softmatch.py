"""SoftMatch (Chen et al. 2023): FixMatch whose hard confidence threshold becomes a soft weight, so
pseudo-labels keep their quantity (no sample is dropped outright) and their quality (unsure ones
count little).

A strong view's cross-entropy with its weak view's hard label is weighted by a truncated Gaussian of
the weak view's confidence max(p): 1 at or above μ_t, exp(−(max(p) − μ_t)² / (2σ_t²)) below it, where
μ_t and σ_t² are EMAs of the unlabeled batches' mean and (unbiased) variance of max(p), starting at
1/C and 1. Uniform alignment first divides p by p̂_t, the EMA of the mean prediction on unlabeled data,
towards the uniform class distribution, so classes the model predicts less reach confident weights;
it only weights, the hard label stays argmax p. μ, σ² and p̂ travel in checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.methods.averages import KeepsAverages
from semimix.methods.base import Batch, MethodParams, StepContext, check
from semimix.methods.fixmatch import WeakStrongMethod
from semimix.ops import masked_cross_entropy
from semimix.validation import bounded

# Added to target and p̂ in the alignment, as the authors' code, so a class whose mean prediction
# underflowed to 0 divides safely.
ALIGN_EPS = 1e-6


@dataclass
class SoftMatchParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # λ_u (paper; USB and TorchSSL ulb_loss_ratio 1.0)
    momentum: float = bounded(0.999, ge=0, lt=1)  # m of the EMAs of μ, σ² and p̂ (paper; USB ema_p, TorchSSL's fixed 0.999)
    # σ_t / n_sigma is the Gaussian's width: both codes (USB n_sigma 2, TorchSSL var / 4) use 2, which
    # halves the paper's formula's width; 1 is the formula as the paper writes it
    n_sigma: float = bounded(2.0, gt=0)
    uniform_alignment: bool = True  # UA (paper; USB dist_align and dist_uniform true)


def truncated_gaussian_weights(confidence: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor, n_sigma: float) -> torch.Tensor:
    """λ(p) = exp(−(max(p) − μ)² / (2(σ/n)²)) for max(p) < μ, else 1: a sample as confident as the
    model is on average counts fully, a less confident one fades instead of being cut off."""
    below = (confidence - mean).clamp(max=0.0)
    return torch.exp(-below.square() * n_sigma**2 / (2 * variance))


def uniform_alignment(probs: torch.Tensor, class_probs: torch.Tensor) -> torch.Tensor:
    """UA(p) = Normalize(p · u(C) / p̂): each prediction rescaled by how far the mean prediction p̂ on
    unlabeled data is from uniform, so a class the model under-predicts gains confidence."""
    aligned = probs * (1 / probs.shape[-1] + ALIGN_EPS) / (class_probs + ALIGN_EPS)
    return aligned / aligned.sum(dim=-1, keepdim=True)


class SoftMatch(KeepsAverages, WeakStrongMethod[SoftMatchParams]):
    """Its averages: "mean" μ_t, "variance" σ_t², "class_probs" p̂_t."""

    name = "softmatch"
    summary = "SoftMatch: FixMatch with truncated-Gaussian confidence weights and uniform alignment (Chen et al. 2023)"
    Params = SoftMatchParams

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p = self.params
        logits_l, logits_weak, logits_strong = self.view_logits(batch, ctx)
        check(len(logits_weak) > 1, f"{self.name} estimates the variance of an unlabeled batch's confidence, so unlabeled_batch_size must be at least 2")
        probs = torch.softmax(logits_weak.detach().float(), dim=-1)
        labels = probs.argmax(dim=-1)
        if p.uniform_alignment:
            # p̂ starts from the first batch's mean prediction (the USB code's DistAlignEMAHook).
            probs = uniform_alignment(probs, self.averages.update("class_probs", probs.mean(dim=0), p.momentum, None))
        confidence = probs.max(dim=-1).values
        # μ and σ² follow the (aligned) confidences of this batch before they weight it, as the USB code.
        mean = self.averages.update("mean", confidence.mean(), p.momentum, 1 / ctx.num_classes)
        variance = self.averages.update("variance", confidence.var(), p.momentum, 1.0)
        weights = truncated_gaussian_weights(confidence, mean, variance, p.n_sigma)
        return {
            "supervised": F.cross_entropy(logits_l, batch.y_l),
            "consistency": p.weight * ctx.ramp * masked_cross_entropy(logits_strong, labels, weights),
        }
