"""Evaluation: metrics of a model on a split (attacks and figures build on it)."""

from semimix.eval.metrics import evaluate, predict_logits

__all__ = ["evaluate", "predict_logits"]
