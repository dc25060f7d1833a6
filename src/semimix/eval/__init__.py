"""Evaluation: metrics of a model on a split (attacks and figures build on it)."""

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
