"""Evaluation reports (``semimix eval``): accuracy, top-5, NLL, calibration, per-class accuracy and
the confusion matrix of a model's outputs on labelled samples, as a JSON-ready dict; and writing
results without half-written files or tracebacks. What a report says about the run it comes from
(directory, checkpoint, step) is added by ``semimix.workflows.evaluate``, which opens the run."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from semimix import files
from semimix.errors import SemimixError
from semimix.eval.calibration import reliability_bins
from semimix.eval.classification import confusion_matrix, per_class_accuracy, top_k_accuracy
from semimix.eval.settings import DEFAULT_BINS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOP_K = 5  # top-5 accuracy is reported for datasets with more than 5 classes (else it is always 1)


def _finite(value: float) -> float | None:
    """JSON has no NaN: undefined numbers become null."""
    return float(value) if value is not None and math.isfinite(value) else None


def classification_report(
    outputs: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    class_names: Sequence[str] = (),
    bins: int = DEFAULT_BINS,
    scores: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Every metric of a model's ``outputs`` against ``labels``; numbers undefined for these samples are null.

    ``scores``: the per-class scores, for outputs that are not logits (negative-cosine losses); such
    outputs have no predicted probabilities, so their NLL, ECE and reliability bins are null, and
    the accuracies use the scores' argmax and ranking. None: the outputs are logits.
    """
    probabilistic = scores is None
    scores = outputs if scores is None else scores
    labels = labels.cpu().long()
    k = num_classes
    predictions = scores.argmax(dim=1)
    report: dict[str, Any] = {
        "samples": len(labels),
        "num_classes": k,
        "class_names": list(class_names) or [str(c) for c in range(k)],
        "scores": "logits" if probabilistic else "class scores that are not logits (negative cosine): no probabilities, so nll, ece and reliability are null",
        "accuracy": _finite((predictions == labels).double().mean().item()),
        "top5_accuracy": _finite(top_k_accuracy(scores, labels, TOP_K)) if k > TOP_K else None,
        "nll": _finite(F.cross_entropy(outputs.double(), labels).item()) if probabilistic else None,
        "ece": None,
        "ece_bins": bins,
        "reliability": None,
    }
    if probabilistic:
        rel = reliability_bins(torch.softmax(outputs.double(), dim=1), labels, bins)
        report["ece"] = _finite(rel.ece)
        report["reliability"] = rel.to_dict()
    matrix = confusion_matrix(labels, predictions, k)
    report["class_samples"] = [int(n) for n in matrix.sum(axis=1)]
    report["per_class_accuracy"] = [_finite(a) for a in per_class_accuracy(labels, predictions, k)]
    report["confusion_matrix"] = matrix.tolist()
    report["confusion_matrix_layout"] = "rows: true class, columns: predicted class, both in class_names order"
    return report


def _cannot_write(path: Path, exc: OSError) -> SemimixError:
    return SemimixError(f"cannot write {path}: {exc.strerror or exc}; choose a writable location")


def write_report(path: str | Path, data: Any) -> Path:
    """``files.write_json`` (temp file + rename), with an unwritable path as a SemimixError."""
    path = Path(path)
    try:
        files.write_json(path, data)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path


def write_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Render ``fig`` in the format its suffix names and write it atomically. An unknown suffix or
    an unwritable path is a SemimixError."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise SemimixError(
            f"cannot write {path}: unknown image type {path.suffix or '(no suffix)'!r}; use one of {', '.join('.' + s for s in sorted(supported))}"
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    try:
        files.atomic_write(path, lambda f: f.write(buffer.getvalue()))
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path


__all__ = ["TOP_K", "classification_report", "write_figure", "write_report"]
