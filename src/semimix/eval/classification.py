"""Classification metrics from predictions, as pure functions of arrays: top-k accuracy, the
confusion matrix and per-class accuracy. Inputs may be NumPy arrays or tensors."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_numpy(values: Any) -> np.ndarray:
    """A NumPy array from an array, a list or a (possibly CUDA, possibly grad-tracking) tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _labels(labels: Any, n: int | None = None) -> np.ndarray:
    labels = as_numpy(labels).astype(np.int64).reshape(-1)
    if n is not None and len(labels) != n:
        raise ValueError(f"{n} rows of scores but {len(labels)} labels")
    return labels


def top_k_accuracy(scores: Any, labels: Any, k: int) -> float:
    """Fraction of rows whose true label is among the ``k`` highest of ``scores`` (N, classes).

    Ties are broken towards the lower class index, as ``argmax`` does, so ``k=1`` is the accuracy.
    NaN for no rows.
    """
    scores = as_numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (samples, classes), got shape {scores.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    labels = _labels(labels, len(scores))
    if len(scores) == 0:
        return float("nan")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(labels: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class."""
    labels = _labels(labels)
    predictions = _labels(predictions, len(labels))
    for name, values in (("labels", labels), ("predictions", predictions)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got {values.min()}..{values.max()}")
    return np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(labels: Any, predictions: Any, num_classes: int) -> np.ndarray:
    """Per true class, the fraction of its samples predicted as that class (its recall); NaN for a
    class without samples in ``labels``."""
    matrix = confusion_matrix(labels, predictions, num_classes)
    counts = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.diag(matrix) / np.maximum(counts, 1), np.nan)
