"""Calibration: the reliability diagram's bins and the expected calibration error (ECE).

The standard definition (Naeini et al., 2015; Guo et al., "On Calibration of Modern Neural
Networks", 2017): a sample's confidence is its largest predicted probability and its prediction
that class (``argmax``, ties to the lower index). The interval [0, 1] is cut into ``bins``
equal-width bins B_m = ((m-1)/M, m/M] (the first also holds 0), and

    ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|,

where acc(B_m) is the fraction of correct predictions in the bin and conf(B_m) its mean
confidence. Empty bins contribute nothing. semimix reports ECE with M = 15 bins, as Guo et al.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from semimix.eval.classification import _labels, as_numpy
from semimix.eval.settings import DEFAULT_BINS


@dataclass
class ReliabilityBins:
    """Per bin m (``edges[m]`` < confidence ≤ ``edges[m + 1]``): how many samples fell in it, their
    mean confidence and their accuracy (NaN for an empty bin)."""

    edges: np.ndarray  # (bins + 1,) from 0 to 1
    counts: np.ndarray  # (bins,) int64
    confidence: np.ndarray  # (bins,)
    accuracy: np.ndarray  # (bins,)

    @property
    def ece(self) -> float:
        """Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|; NaN when there are no samples."""
        n = int(self.counts.sum())
        if n == 0:
            return float("nan")
        full = self.counts > 0
        return float((self.counts[full] / n * np.abs(self.accuracy[full] - self.confidence[full])).sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists; empty bins' confidence and accuracy are null."""

        def clean(values: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in values]

        return {
            "bins": len(self.counts),
            "edges": [float(e) for e in self.edges],
            "count": [int(c) for c in self.counts],
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
        }


def _check_probs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    probs = as_numpy(probs).astype(np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (samples, classes), got shape {probs.shape}")
    return probs, _labels(labels, len(probs))


def reliability_bins(probs: Any, labels: Any, bins: int = DEFAULT_BINS) -> ReliabilityBins:
    """Bin the samples of ``probs`` (N, classes; rows are probability vectors) by confidence into
    ``bins`` equal-width bins, right-closed, and measure each bin (see the module's docstring)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    probs, labels = _check_probs(probs, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64) if len(probs) else np.zeros(0)
    # searchsorted 'left' on the inner edges: edges[m] < c <= edges[m+1] → m (0 goes to bin 0, 1 to the last)
    index = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    empty = counts == 0
    mean_conf[empty], accuracy[empty] = np.nan, np.nan
    return ReliabilityBins(edges, counts.astype(np.int64), mean_conf, accuracy)


def expected_calibration_error(probs: Any, labels: Any, bins: int = DEFAULT_BINS) -> float:
    """ECE of the probability rows ``probs`` (N, classes) against ``labels`` with ``bins``
    equal-width confidence bins (the module's docstring gives the definition); NaN for no rows."""
    return reliability_bins(probs, labels, bins).ece
