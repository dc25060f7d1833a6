"""Learning-rate and consistency-weight schedules as pure functions of the step, so resuming
needs no scheduler state."""

from __future__ import annotations

import bisect
import math

from semimix.errors import SemimixError
from semimix.train.config import RampConfig, ScheduleConfig


def lr_factor(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based)."""
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else 1.0
    if cfg.name == "constant":
        return warmup
    if cfg.name == "cosine":
        horizon = max(1.0, cfg.cosine_horizon * total_steps)
        return warmup * 0.5 * (1.0 + math.cos(math.pi * min(step, horizon) / horizon))
    if cfg.name == "step":
        return warmup * cfg.gamma ** bisect.bisect_right(sorted(cfg.milestones), step)
    raise SemimixError(f"unknown schedule {cfg.name!r}; choose cosine, step or constant")


def ramp_factor(step: int, total_steps: int, cfg: RampConfig) -> float:
    """Consistency ramp-up in [0, 1]: sigmoid exp(−5(1−t)²) (Laine & Aila), linear, or none."""
    length = cfg.fraction * total_steps
    if cfg.shape == "none" or length <= 0:
        return 1.0
    t = min(1.0, step / length)
    if cfg.shape == "sigmoid":
        return math.exp(-5.0 * (1.0 - t) ** 2)
    if cfg.shape == "linear":
        return t
    raise SemimixError(f"unknown ramp-up shape {cfg.shape!r}; choose sigmoid, linear or none")
