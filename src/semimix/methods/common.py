"""Pieces several methods share: the supervised term, target passes, mixup consistency."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from semimix.methods.base import Batch, StepContext, check
from semimix.ops import frozen_batchnorm, full_precision, mix, one_hot, pair_permutation, sample_lambda, soft_cross_entropy
from semimix.ops.losses import Divergence


def mixed_forward(model: nn.Module, x: torch.Tensor, alpha: float, layer: int = 0, per_sample: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits of the model with the batch mixed with a permutation of itself at ``layer``
    (0 = the input); returns (logits, λ, perm) so the caller mixes its targets alike.
    Gradients flow through the layers before the mix too, as Manifold Mixup requires."""
    lam = sample_lambda(alpha, len(x) if per_sample else None, device=x.device)
    perm = pair_permutation(len(x), device=x.device)
    return model(x, mix_layer=layer, mix=lambda h: mix(h, h[perm], lam)), lam, perm


def supervised_loss(
    batch: Batch,
    ctx: StepContext,
    mixup_alpha: float = 0.0,
    per_sample: bool = False,
    layer: int = 0,
    target_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Cross-entropy on the labeled batch; with ``mixup_alpha`` > 0, mixup of the labeled batch at
    ``layer`` with soft-label CE (= λ·CE(y_a) + (1−λ)·CE(y_b)), as ICT's and Manifold Mixup's codes do.
    ``target_loss(outputs, target_probs)`` replaces the cross-entropy (e.g. the DAT paper's NC loss)."""
    x = ctx.view(batch.x_l)
    if mixup_alpha <= 0:
        outputs = ctx.student(x)
        return F.cross_entropy(outputs, batch.y_l) if target_loss is None else target_loss(outputs, one_hot(batch.y_l, ctx.num_classes))
    outputs, lam, perm = mixed_forward(ctx.student, x, mixup_alpha, layer, per_sample)
    targets = one_hot(batch.y_l, ctx.num_classes)
    return (target_loss or soft_cross_entropy)(outputs, mix(targets, targets[perm], lam))


@torch.no_grad()
def target_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits used only as a target: no gradient, and BN running statistics left alone."""
    with frozen_batchnorm(model):
        return model(x)


def own_target_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``target_logits`` in float32 even under autocast: a model's own prediction that VAT's float32
    power iteration is measured against (``ops.vat_perturbation`` says why it must not be bf16)."""
    with full_precision(x):
        return target_logits(model, x)


def soft_targets(logits: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor, mix_logits: bool) -> torch.Tensor:
    """Mixed target probabilities: λ·p_i + (1−λ)·p_perm(i) (the papers), or softmax of the
    mixed logits (ICT's code, ``mix_logits=True``)."""
    if mix_logits:
        return torch.softmax(mix(logits, logits[perm], lam), dim=-1)
    probs = torch.softmax(logits, dim=-1)
    return mix(probs, probs[perm], lam)


def mixup_consistency(
    model: nn.Module,
    x: torch.Tensor,
    target_logits_: torch.Tensor,
    *,
    alpha: float,
    divergence: Divergence,
    layer: int = 0,
    per_sample: bool = False,
    mix_logits: bool = False,
    logit_targets: bool = False,
) -> torch.Tensor:
    """D(f(mix_k(x_i, x_perm(i))), mix(target_i, target_perm(i))): ICT's term at layer 0,
    Manifold Mixup's consistency at a hidden layer k. ``logit_targets``: D compares logits with
    the mixed target logits themselves (the Manifold Mixup SSL code's MSE on raw logits)."""
    logits, lam, perm = mixed_forward(model, x, alpha, layer, per_sample)
    target = mix(target_logits_, target_logits_[perm], lam) if logit_targets else soft_targets(target_logits_, lam, perm, mix_logits)
    return divergence(logits, target)


def require_unlabeled(batch: Batch, method: str) -> torch.Tensor:
    """The unlabeled inputs, or a clear error for data without any."""
    check(batch.x_u is not None, f"method {method!r} needs unlabeled samples, but the dataset has none; use 'supervised' or add unlabeled data")
    return batch.x_u  # type: ignore[return-value]


def unlabeled_indices(batch: Batch, method: str) -> torch.Tensor:
    """The unlabeled samples' dataset indices, which a method keeping per-sample state indexes it by."""
    check(batch.idx_u is not None, f"{method} keeps state per unlabeled sample, so it needs their indices (Batch.idx_u)")
    return batch.idx_u  # type: ignore[return-value]


def per_sample_state(state: torch.Tensor | None, make: Callable[[int], torch.Tensor], ctx: StepContext, method: str, device: torch.device) -> torch.Tensor:
    """A method's per-sample state on ``device``: ``make(num_unlabeled)`` on the first step, or the
    tensor it keeps (restored from a checkpoint on resume) moved there. One row per unlabeled sample is
    also what lets data-parallel ranks merge it (``train.distributed.Dist.merge_sample_state``)."""
    if state is None:
        check(ctx.num_unlabeled > 0, f"{method} keeps state per unlabeled sample, so StepContext.num_unlabeled must be set")
        state = make(ctx.num_unlabeled)
    return state.to(device)
