"""FlexMatch (Zhang et al. 2021, Curriculum Pseudo Labeling): FixMatch with a threshold per class that
follows how far the class is learned, so hard classes let more of their pseudo-labels through early.

A class's learning effect σ(c) is the number of unlabeled samples whose latest prediction above the
fixed τ was c. It is normalised to β(c) = σ(c) / max_c σ, or, with threshold warm-up, to
σ(c) / max(max_c σ, N − Σ_c σ), where N − Σ_c σ counts the samples never predicted above τ, so that the
thresholds rise from 0 while those dominate; the convex map M(x) = x / (2 − x) makes the class's
threshold M(β(c))·τ. A weak-view prediction labels its strong view where it reaches its class's
threshold (≥ as the official code, for both thresholds; the paper writes >); the thresholds of a step
come from the predictions recorded before it.

Each unlabeled sample's latest class predicted above τ is kept, counted from 1 (0: none yet, so a new
state is zeros, which is what the data-parallel merge of per-sample state takes a state created in a
step to start from), indexed by ``Batch.idx_u`` as Temporal Ensembling's ensemble; it travels in
checkpoints (``state_dict``), so a resumed run continues with the same thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from semimix.methods.base import Batch, StepContext
from semimix.methods.common import per_sample_state, unlabeled_indices
from semimix.methods.fixmatch import FixMatch, FixMatchParams
from semimix.ops import confident_pseudo_labels


@dataclass
class FlexMatchParams(FixMatchParams):
    """λ_u = 1 and τ = 0.95 as FixMatch's, as the paper keeps them (TorchSSL's and USB's FlexMatch
    configs: `ulb_loss_ratio` 1.0, `p_cutoff` 0.95); hard pseudo-labels (their `hard_label: True`)."""

    warmup: bool = True  # threshold warm-up (the paper's; TorchSSL and USB `thresh_warmup` default True)


def learning_effects(latest: torch.Tensor, num_classes: int, warmup: bool) -> torch.Tensor:
    """β(c) per class from each sample's latest class predicted above τ, counted from 1 (0: none):
    σ(c) over max_c σ, or with ``warmup`` over max(max_c σ, number of samples without one); all 0
    before any sample has one."""
    counts = torch.bincount(latest, minlength=num_classes + 1).float()
    unused, sigma = counts[0], counts[1:]
    norm = torch.maximum(sigma.max(), unused) if warmup else sigma.max()
    return sigma / norm.clamp_min(1)


def convex_mapping(beta: torch.Tensor) -> torch.Tensor:
    """M(x) = x / (2 − x), the paper's mapping: 0 at 0 and 1 at 1, low while a class is little learned,
    so its threshold stays low, then rising steeply as the class is learned."""
    return beta / (2 - beta)


class FlexMatch(FixMatch[FlexMatchParams]):
    name = "flexmatch"
    summary = "FlexMatch: FixMatch with per-class thresholds from each class's learning status (Zhang et al. 2021)"
    Params = FlexMatchParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.latest: torch.Tensor | None = None  # (num_unlabeled,) latest class predicted above τ, from 1; 0: none yet

    def state_dict(self) -> dict[str, Any]:
        return {} if self.latest is None else {"latest": self.latest}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.latest = state.get("latest")

    def thresholds(self, logits_weak: torch.Tensor, batch: Batch, ctx: StepContext) -> torch.Tensor:
        """τ·M(β(c)) per class from the predictions recorded so far; then this batch's predictions that
        reach the fixed τ are recorded, for the next steps (the official order)."""
        idx = unlabeled_indices(batch, self.name)
        latest = self.latest = per_sample_state(self.latest, lambda n: torch.zeros(n, dtype=torch.long), ctx, self.name, logits_weak.device)
        p = self.params
        thresholds = p.threshold * convex_mapping(learning_effects(latest, ctx.num_classes, p.warmup))
        labels, confident = confident_pseudo_labels(logits_weak, p.threshold)
        chosen = confident.bool()
        latest[idx[chosen]] = labels[chosen] + 1
        return thresholds
