"""Forward passes that must not touch BatchNorm running statistics (perturbed, adversarial, teacher),
and re-estimating those statistics for fixed weights."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


OWN_STATISTICS = "semimix_own_statistics"  # a BN layer flag: its target passes update its statistics


def keep_own_statistics(model: nn.Module) -> None:
    """Let ``model``'s BN layers (an EMA teacher's) update their running statistics in the target
    passes that ``frozen_batchnorm`` wraps, as ICT's and AdvMixup's teachers do in train mode."""
    for m in _batchnorms(model):
        setattr(m, OWN_STATISTICS, True)


@contextmanager
def frozen_batchnorm(model: nn.Module) -> Iterator[None]:
    """Inside, BN layers still normalise with batch statistics in train mode but do not update
    their running mean/var or batch counter (except layers marked by ``keep_own_statistics``);
    outside, everything is as before."""
    norms = [m for m in _batchnorms(model) if not getattr(m, OWN_STATISTICS, False)]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


def reestimate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Replace every BN layer's running statistics by their plain average over ``batches`` (model
    inputs), weights fixed: what the model would normalise with if its statistics came from those
    inputs rather than from the augmented or mixed training batches. Mode and momentum are kept."""
    norms, was_training = _batchnorms(model), model.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    try:
        with torch.no_grad():
            for x in batches:
                model(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
