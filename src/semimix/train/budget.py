"""One rule for reduced budgets: the time constants a run trains with, derived from the ones its preset
states for the full budget (``budget.reference_steps``), so a reduced preset is its full preset with
fewer steps and nothing else edited.

Two kinds of time constant follow the run differently:

* **schedule points** (lr milestones, warm-up, and the ramps and cosine already given as fractions)
  mark a moment of the run: under ``rule: scale`` they move in proportion, t·steps/reference_steps;
* **averaging horizons** follow what ``benchmarks/horizon_sweep.py`` measured on CIFAR-10 at 400
  and 1,600 steps (RESULTS.md, "Averaging horizons"):
  - the EMA teacher's H = 1/(1 − decay) averages out per-step noise, which does not shrink with the
    run, but must not lag behind weights that now change faster: H = min(H_full,
    ema_horizon_fraction·steps) with the fraction 1/30, the best measured on validation (1/10 to
    1/100 were within 0.5 points; 1/3 of the run and the full 1,000 steps 2–7 points worse);
  - BatchNorm's H = 1/momentum only tracks the weights (a batch's statistics are nearly exact), so
    it shrinks with the run as the schedule does, H_full·steps/reference_steps, but not below 10
    steps (PyTorch's default momentum 0.1): about 10 steps was the best measured at both budgets.
  At full budget both give the paper's absolute values.

``rule: truncate`` keeps the reference schedule and stops early: the first ``steps`` of the full run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from semimix.train.config import TrainConfig

BN_HORIZON_FLOOR = 10.0  # steps: BatchNorm statistics this fresh were the best measured at 400 and 1,600 steps
# What a reduced preset may change of the full preset it extends: the budget (length, model size, batch,
# reporting, threads, and how the time constants follow); method, data, optimiser and schedule stay.
BUDGET_KEYS = frozenset(
    {
        "steps",
        "model",
        "model_params",
        "labeled_batch_size",
        "unlabeled_batch_size",
        "eval_every",
        "log_every",
        "checkpoint_every",
        "threads",
        "budget",
    }
)


@dataclass(frozen=True)
class TimeConstants:
    """What the loop uses: ``schedule_steps`` is the length the lr schedule and ramps are laid over."""

    schedule_steps: int
    milestones: tuple[int, ...]
    warmup_steps: int
    ema_decay: float
    bn_horizon_scale: float | None  # BatchNorm horizons (1/momentum) times this, floored (``scale_batchnorm``); None: as built

    def describe(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def capped_horizon(horizon: float, steps: int, fraction: float) -> float:
    """The EMA horizon for a run of ``steps``: the full one, at most ``fraction``·steps (≥ 1)."""
    return min(horizon, max(1.0, fraction * steps))


def scaled_batchnorm_horizon(horizon: float, scale: float) -> float:
    """A BatchNorm horizon shrunk with the run, ``horizon``·scale, but not below 10 steps (or the full
    horizon, if shorter)."""
    return max(min(horizon, BN_HORIZON_FLOOR), horizon * scale)


def time_constants(cfg: TrainConfig) -> TimeConstants:
    """The run's time constants: the config's own, or derived from them for a shorter run (a config
    that ``validate_config`` passed: the budget's fields and the truncate rule are checked there)."""
    b, s = cfg.budget, cfg.schedule
    given = TimeConstants(cfg.steps, tuple(s.milestones), s.warmup_steps, cfg.ema_decay, None)
    if b.reference_steps is None or cfg.steps >= b.reference_steps:
        return given
    if b.rule == "truncate":
        return dataclasses.replace(given, schedule_steps=b.reference_steps)
    ratio = cfg.steps / b.reference_steps
    ema_horizon = capped_horizon(1.0 / (1.0 - cfg.ema_decay), cfg.steps, b.ema_horizon_fraction) if cfg.ema_decay > 0 else 1.0
    return TimeConstants(
        schedule_steps=cfg.steps,
        milestones=tuple(round(m * ratio) for m in s.milestones),
        warmup_steps=round(s.warmup_steps * ratio),
        ema_decay=cfg.ema_decay if cfg.ema_decay == 0 else 1.0 - 1.0 / ema_horizon,
        bn_horizon_scale=ratio,
    )


def scale_batchnorm(model: nn.Module, scale: float | None) -> None:
    """Set each BatchNorm momentum to 1/H for its horizon H = 1/momentum scaled by ``scale``."""
    if scale is None:
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None:
            m.momentum = 1.0 / scaled_batchnorm_horizon(1.0 / m.momentum, scale)


def batchnorm_momenta(model: nn.Module) -> list[float]:
    """The distinct BatchNorm momenta ``model`` trains with (for the run's summary)."""
    return sorted({m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None})
