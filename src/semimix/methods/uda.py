"""UDA (Xie et al. 2020, Unsupervised Data Augmentation for Consistency Training): the prediction on
a weak view of an unlabeled sample, sharpened with temperature T and without gradient, is the target of
a strong view (RandAugment + Cutout) under KL divergence, counted only where the weak prediction's
largest probability exceeds β (confidence-based masking). Optional Training Signal Annealing (TSA)
removes from the supervised loss each labeled sample whose probability of its true class already
exceeds η_t, which rises from 1/K to 1 over the run, so that the few labels are not memorised early."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from semimix.errors import SemimixError
from semimix.methods.base import Batch, MethodParams, StepContext
from semimix.methods.fixmatch import WeakStrongMethod
from semimix.ops import masked_kl_divergence, sharpen
from semimix.validation import bounded, choice

TSA_SCALE = 5.0  # rate of the log and exp schedules (the paper's TSA schedules; official get_tsa_threshold: scale = 5)


@dataclass
class UDAParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # λ: official image/main.py `unsup_coeff` 1 (its CIFAR-10 script keeps it); USB `ulb_loss_ratio` 1.0
    temperature: float = bounded(0.4, gt=0)  # sharpening T: official scripts/run_cifar10_gpu.sh `uda_softmax_temp=0.4`; USB/TorchSSL `T` 0.4
    threshold: float = bounded(
        0.8, ge=0, le=1
    )  # masking β: paper (0.8 on CIFAR-10 and SVHN); run_cifar10_gpu.sh `uda_confidence_thresh=0.8`; USB `p_cutoff` 0.8
    # TSA schedule: off in the official CIFAR-10 script (`tsa` unset) and in USB/TorchSSL (`tsa_schedule: none`)
    tsa: str = choice("none", ("none", "linear", "log", "exp"))


def tsa_threshold(schedule: str, progress: float, num_classes: int) -> float:
    """η_t = α_t·(1 − 1/K) + 1/K at progress t/T, with α_t = t/T (linear), 1 − exp(−5t/T) (log: releases
    the labels early) or exp(5(t/T − 1)) (exp: late), as the paper defines the three schedules."""
    alpha = {
        "linear": progress,
        "log": 1 - math.exp(-TSA_SCALE * progress),
        "exp": math.exp(TSA_SCALE * (progress - 1)),
    }[schedule]
    return alpha * (1 - 1 / num_classes) + 1 / num_classes


def annealed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, threshold: float) -> torch.Tensor:
    """CE averaged over the labeled samples whose probability of their true class is at most η_t; the
    others leave the loss and its denominator (the official code's sum / max(kept, 1))."""
    ce = F.cross_entropy(logits, labels, reduction="none")
    p_true = torch.softmax(logits.detach(), dim=-1).gather(1, labels.unsqueeze(1)).squeeze(1)
    kept = (p_true <= threshold).to(ce.dtype)
    return (ce * kept).sum() / kept.sum().clamp_min(1)


def sharpened_targets(logits_weak: torch.Tensor, temperature: float, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets, mask): the weak prediction sharpened, p^(1/T) renormalised (= softmax(z/T)), without
    gradient; and 1 where the unsharpened prediction's largest probability is > β (the paper's and the
    official code's strict comparison), else 0."""
    probs = torch.softmax(logits_weak.detach(), dim=-1)
    return sharpen(probs, temperature), (probs.max(dim=-1).values > threshold).to(logits_weak.dtype)


class UDA(WeakStrongMethod[UDAParams]):
    name = "uda"
    summary = "UDA: sharpened weak-view predictions are soft targets of strong views, where confident (Xie et al. 2020)"
    Params = UDAParams

    def supervised(self, logits: torch.Tensor, labels: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """CE on the labeled batch, annealed by TSA where a schedule is set."""
        schedule = self.params.tsa
        if schedule == "none":
            return F.cross_entropy(logits, labels)
        if ctx.progress is None:
            raise SemimixError(f"uda.tsa={schedule!r} anneals over the run, but this trainer passes no progress (StepContext.progress); set uda.tsa to none")
        return annealed_cross_entropy(logits, labels, tsa_threshold(schedule, ctx.progress, ctx.num_classes))

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p = self.params
        logits_l, logits_weak, logits_strong = self.view_logits(batch, ctx)
        targets, mask = sharpened_targets(logits_weak, p.temperature, p.threshold)
        return {
            "supervised": self.supervised(logits_l, batch.y_l, ctx),
            "consistency": p.weight * ctx.ramp * masked_kl_divergence(logits_strong, targets, mask),
        }
