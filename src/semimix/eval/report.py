"""A run's evaluation report (``semimix eval``): accuracy, top-5, NLL, calibration, per-class
accuracy and the confusion matrix of one checkpoint on one split, as a JSON-ready dict and a
short text table; and writing results without half-written files or tracebacks."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

import semimix
from semimix import files
from semimix.errors import SemimixError
from semimix.eval.calibration import reliability_bins
from semimix.eval.classification import confusion_matrix, per_class_accuracy, top_k_accuracy
from semimix.eval.settings import DEFAULT_BINS
from semimix.runs import FINAL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from semimix.runs import Run

TOP_K = 5  # top-5 accuracy is reported for datasets with more than 5 classes (else it is always 1)


def _finite(value: float) -> float | None:
    """JSON has no NaN: undefined numbers become null."""
    return float(value) if value is not None and math.isfinite(value) else None


def checkpoint_step(run: Run) -> int:
    """The training step whose weights ``run.model`` holds."""
    return int(run.trainer.best["step"] if run.checkpoint == "best" else run.trainer.step)  # 'last' and 'final' are the last


def evaluate_run(run: Run, split: str = "test", bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Every metric of ``run.model`` on ``split``; numbers undefined for the run are null.

    Methods whose outputs are not logits (negative-cosine losses: ``run.trainer.class_scores`` is
    set) have no predicted probabilities, so their NLL, ECE and reliability bins are null; their
    accuracies use the per-class scores' argmax and ranking.
    """
    x, y = run.split(split)
    outputs = run.logits(x)
    scores = run.class_scores(outputs)
    labels = y.cpu().long()
    k = run.data.num_classes
    predictions = scores.argmax(dim=1)
    probabilistic = run.trainer.class_scores is None
    class_names = list(run.data.class_names) or [str(c) for c in range(k)]
    report: dict[str, Any] = {
        "run_dir": str(run.run_dir),
        "method": run.config.method,
        "dataset": run.data.name,
        "split": split,
        "checkpoint": run.checkpoint,
        "step": checkpoint_step(run),
        "model": run.trainer.eval_name,
        "samples": len(labels),
        "num_classes": k,
        "class_names": class_names,
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
    report["semimix_version"] = semimix.__version__
    return report


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_report(report: dict[str, Any], max_classes: int = 20, max_matrix: int = 10) -> str:
    """A short table: the headline metrics, then per-class accuracy (with confusion-matrix rows for
    up to ``max_matrix`` classes; only the five worst classes beyond ``max_classes``)."""
    no_best = "; no validation split, so no best-on-validation one" if report["checkpoint"] == FINAL else ""
    lines = [
        f"{report['method']} on {report['dataset']}: {report['split']} split ({report['samples']} samples), "
        f"{report['checkpoint']} checkpoint (step {report['step']}, {report['model']}{no_best})",
        f"  accuracy        {_num(report['accuracy'])}",
    ]
    if report["top5_accuracy"] is not None:
        lines.append(f"  top-5 accuracy  {_num(report['top5_accuracy'])}")
    lines.append(f"  NLL             {_num(report['nll'])}")
    lines.append(f"  ECE ({report['ece_bins']} bins)   {_num(report['ece'])}")
    names, counts, accs = report["class_names"], report["class_samples"], report["per_class_accuracy"]
    width = max(5, *(len(n) for n in names))
    rows = list(range(len(names)))
    if len(names) > max_classes:
        rows = sorted(rows, key=lambda c: (accs[c] is None, accs[c] if accs[c] is not None else 0.0))[:5]
        lines.append(f"per-class accuracy, the five lowest of {len(names)} classes (all in the JSON):")
    else:
        lines.append("per-class accuracy" + (" and confusion-matrix row (predicted class →):" if len(names) <= max_matrix else ":"))
    lines.append(f"  {'class':<{width}} {'samples':>7} {'accuracy':>8}")
    for c in rows:
        row = f"  {names[c]:<{width}} {counts[c]:>7} {_num(accs[c]):>8}"
        if len(names) <= max_matrix:
            row += "   " + " ".join(f"{v:>4}" for v in report["confusion_matrix"][c])
        lines.append(row)
    return "\n".join(lines)


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
    """Render ``fig`` in the format its suffix names and write it atomically; close it either way.
    An unknown suffix or an unwritable path is a SemimixError."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
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
    finally:
        plt.close(fig)
    return path


__all__ = ["TOP_K", "checkpoint_step", "evaluate_run", "format_report", "write_figure", "write_report"]
