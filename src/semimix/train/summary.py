"""What a finished run reports in ``summary.json``: test numbers of the final and the
best-on-validation model, and everything needed to know what produced them."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import semimix
from semimix.train import hardware
from semimix.train.budget import batchnorm_momenta

if TYPE_CHECKING:
    from semimix.train.trainer import Trainer


def run_summary(trainer: Trainer, final: dict[str, float], at_best: dict[str, float]) -> dict[str, Any]:
    """``final`` and ``at_best``: accuracy and NLL on the test split of the evaluated model and of the best-on-validation weights."""
    cfg, data = trainer.cfg, trainer.data
    n_per_step = cfg.labeled_batch_size + (cfg.unlabeled_batch_size if trainer.batches.has_unlabeled else 0)
    return {
        "method": cfg.method,
        "dataset": data.name,
        "model": trainer.model_name,
        "labels": len(data.y_labeled),
        "unlabeled": len(data.x_unlabeled),
        "seed": cfg.seed,
        "steps": trainer.step,
        "eval_model": trainer.eval_name,
        "test_accuracy": _finite(final["accuracy"]),
        "test_nll": _finite(final["nll"]),
        "best_val_accuracy": _finite(trainer.best["val_accuracy"]),
        "best_val_step": trainer.best["step"],
        "test_accuracy_at_best_val": _finite(at_best["accuracy"]),
        "test_nll_at_best_val": _finite(at_best["nll"]),
        "wall_time_s": round(trainer.train_time, 3),
        "train_samples_per_s": round(n_per_step * trainer.step / max(trainer.train_time, 1e-9), 1),
        "device": str(trainer.device),
        **hardware.describe(trainer.device),
        **trainer.fast_path.describe(),
        "processes": trainer.dist.world_size,
        "skipped_steps": trainer.skipped_steps,
        **({"extensions": trainer.extensions} if trainer.extensions else {}),
        "time_constants": {**trainer.time.describe(), "bn_momentum": batchnorm_momenta(trainer.student)},
        "semimix_version": semimix.__version__,
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
