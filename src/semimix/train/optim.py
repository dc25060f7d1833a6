"""The optimiser of a run, with weight decay as the reference codes apply it: as L2 in the gradient
(PyTorch's ``weight_decay``) or decoupled, w ← w(1 − wd·lr) after each step (MixMatch's code, AdamW),
on every parameter or on the kernels only (FixMatch's and MixMatch's codes skip BN and biases)."""

from __future__ import annotations

import torch
from torch import nn

from semimix.train.config import OptimConfig
from semimix.validation import check_fields


def decayed(model: nn.Module, on: str) -> list[torch.Tensor]:
    """The trainable parameters weight decay applies to: all, or the kernels (conv and linear
    weights, the parameters with more than one dimension: not BN scales, not biases)."""
    return [p for p in model.parameters() if p.requires_grad and (on == "all" or p.dim() > 1)]


def _decayed_groups(model: nn.Module, o: OptimConfig) -> list[dict]:
    """Parameter groups with the L2 weight decay each gets (none where decay is decoupled)."""
    wd = 0.0 if o.decoupled_weight_decay else o.weight_decay
    chosen = decayed(model, o.weight_decay_on)
    ids = {id(p) for p in chosen}
    rest = [p for p in decayed(model, "all") if id(p) not in ids]
    return [{"params": chosen, "weight_decay": wd}, *([{"params": rest, "weight_decay": 0.0}] if rest else [])]


def make_optimizer(model: nn.Module, o: OptimConfig) -> torch.optim.Optimizer:
    check_fields(o, "optim.")  # an OptimConfig given on its own, outside a TrainConfig, is checked nowhere else
    groups = _decayed_groups(model, o)
    if o.name == "sgd":
        return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0)
    return torch.optim.Adam(groups, lr=o.lr, betas=(o.momentum, o.adam_beta2))


class DecoupledDecay:
    """w ← w(1 − wd·lr) on the decayed parameters after each optimiser step; nothing when decay is L2."""

    def __init__(self, model: nn.Module, o: OptimConfig) -> None:
        active = o.decoupled_weight_decay and o.weight_decay > 0
        self.params: list[torch.Tensor] = decayed(model, o.weight_decay_on) if active else []
        self.weight_decay = o.weight_decay

    @torch.no_grad()
    def step(self, lr: float) -> None:
        if self.params:
            torch._foreach_mul_(self.params, 1.0 - self.weight_decay * lr)
