"""Evaluation: metrics of a model on a split (attacks and figures build on it).

The names below are imported from their modules (and with them torch) on first use, not by
``import semimix.eval``, so that the package's light modules, ``semimix.eval.settings`` above all,
import without torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semimix.eval.calibration import ReliabilityBins, expected_calibration_error, reliability_bins
    from semimix.eval.classification import confusion_matrix, per_class_accuracy, top_k_accuracy
    from semimix.eval.metrics import evaluate, predict_logits
    from semimix.eval.paths import path_errors, path_study
    from semimix.eval.robustness import ScoreModel, attack_errors, craft, masking_check

__all__ = [
    "ReliabilityBins",
    "ScoreModel",
    "attack_errors",
    "confusion_matrix",
    "craft",
    "evaluate",
    "expected_calibration_error",
    "masking_check",
    "path_errors",
    "path_study",
    "per_class_accuracy",
    "predict_logits",
    "reliability_bins",
    "top_k_accuracy",
]
_MODULES = ("calibration", "classification", "metrics", "paths", "robustness")  # where the names of __all__ are defined


def __getattr__(name: str) -> object:
    """``semimix.eval.evaluate`` and the other names of ``__all__``, imported on first use."""
    if name in __all__:
        for module in _MODULES:
            value = getattr(importlib.import_module(f"semimix.eval.{module}"), name, None)
            if value is not None:
                globals()[name] = value  # later look-ups find it without this function
                return value
    raise AttributeError(f"module 'semimix.eval' has no attribute {name!r}")
