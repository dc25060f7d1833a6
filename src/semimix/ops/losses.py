"""Divergences between predictions and (soft) targets, all batch means."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from semimix.errors import SemimixError

Divergence = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """−Σ_c t_c log softmax(z)_c, averaged over the batch; equals CE for one-hot targets."""
    return -(target_probs * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def softmax_mse(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Mean over batch × classes of (softmax(z) − t)², the Π/Mean Teacher/ICT consistency."""
    return (torch.softmax(logits, dim=-1) - target_probs).pow(2).mean()


def softmax_sse(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Σ_c (softmax(z) − t)², batch mean: AdvMixup's and SemiMeta's codes (C times ``softmax_mse``)."""
    return (torch.softmax(logits, dim=-1) - target_probs).pow(2).sum(dim=-1).mean()


def logit_mse(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Mean over batch × classes of (z − t)² on raw logits: the Manifold Mixup SSL code's nn.MSELoss."""
    return (logits - target_logits).pow(2).mean()


def kl_rows(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """KL(t ‖ softmax(z)) = Σ t (log t − log softmax(z)) of each row (VAT's and UDA's direction)."""
    log_t = torch.log(target_probs.clamp_min(1e-12))
    return (target_probs * (log_t - F.log_softmax(logits, dim=-1))).sum(dim=-1)


def kl_divergence(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """KL(t ‖ softmax(z)), batch mean."""
    return kl_rows(logits, target_probs).mean()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean prediction entropy −Σ p log p; minimising it pushes boundaries to low density."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1).mean()


def class_imbalance(logits: torch.Tensor) -> torch.Tensor:
    """log C − H(mean softmax over the batch): 0 when the batch's predictions are spread evenly over
    the C classes, log C when they all fall in one. IMSAT's marginal-entropy term (Hu et al. 2017,
    with VAT); minimising it keeps a few labels from letting one class absorb another."""
    mean_p = torch.softmax(logits, dim=-1).mean(dim=0)
    return math.log(logits.shape[-1]) + (mean_p * torch.log(mean_p.clamp_min(1e-12))).sum()


def confident_pseudo_labels(logits: torch.Tensor, threshold: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hard labels, mask): argmax of softmax(logits) without gradient, and 1 where its maximum is
    ≥ ``threshold`` (Pseudo-Label, FixMatch's official ``>=``), else 0. A tensor ``threshold`` holds
    one per class, and each row is held to its label's (FlexMatch's flexible thresholds)."""
    confidence, labels = torch.softmax(logits.detach(), dim=-1).max(dim=-1)
    if isinstance(threshold, torch.Tensor):
        threshold = threshold[labels]
    return labels, (confidence >= threshold).to(logits.dtype)


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ mask·CE / N over all N rows: masked rows stay in the denominator (FixMatch's μB), so the
    term does not jump as the mask fills."""
    return (F.cross_entropy(logits, labels, reduction="none") * mask).mean()


def masked_kl_divergence(logits: torch.Tensor, target_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ mask·KL(t ‖ softmax(z)) / N over all N rows, as ``masked_cross_entropy`` (UDA's code: the
    masked per-example KL averaged over the whole unlabeled batch)."""
    return (kl_rows(logits, target_probs) * mask).mean()


DIVERGENCES: dict[str, Divergence] = {
    "mse": softmax_mse,
    "mse-sum": softmax_sse,
    "mse-logits": logit_mse,  # targets are logits, not probabilities (see ``LOGIT_TARGETS``)
    "kl": kl_divergence,
    "ce": soft_cross_entropy,
}


LOGIT_TARGETS = frozenset({"mse-logits"})  # divergences whose targets are (mixed) logits


def get_divergence(name: str, logit_targets: bool = False) -> Divergence:
    """Look up a divergence by its config name; one that compares logits (``LOGIT_TARGETS``) only
    where the caller's targets are logits (``logit_targets``). A method's config is checked before
    (``divergence_field``); this check is for a caller passing a name of its own."""
    if name not in DIVERGENCES:
        raise SemimixError(f"unknown divergence {name!r}; choose one of {', '.join(sorted(DIVERGENCES))}")
    if name in LOGIT_TARGETS and not logit_targets:
        raise SemimixError(
            f"divergence {name!r} compares logits with logit targets; this method's targets are probabilities: "
            f"choose one of {', '.join(sorted(set(DIVERGENCES) - LOGIT_TARGETS))}"
        )
    return DIVERGENCES[name]
