"""Forward passes that must not touch BatchNorm running statistics (perturbed, adversarial, teacher)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def frozen_batchnorm(model: nn.Module) -> Iterator[None]:
    """Inside, BN layers still normalise with batch statistics in train mode but do not update
    their running mean/var or batch counter; outside, everything is as before."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True
