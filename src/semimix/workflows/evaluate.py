"""Evaluate a finished run's checkpoint on a split and keep the numbers (``semimix eval``, ``semimix.api.evaluate``).

Writes ``eval-<split>-<checkpoint>.json`` (accuracy, top-5, NLL, ECE with its reliability bins,
per-class accuracy, confusion matrix) and ``reliability-<split>-<checkpoint>.png`` into the run
directory (or ``out``), so evaluations of other splits and checkpoints sit beside each other;
the default evaluation (test split, best checkpoint) is also written as ``eval.json``. A run
without a validation split has no best checkpoint: ``best`` there evaluates its final weights,
written as ``eval-<split>-final.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from semimix.eval.settings import DEFAULT_BINS

if TYPE_CHECKING:
    from semimix.runs import Run

DEFAULT_SPLIT, DEFAULT_CHECKPOINT = "test", "best"


def checkpoint_step(run: Run) -> int:
    """The training step whose weights ``run.model`` holds."""
    return int(run.trainer.best["step"] if run.checkpoint == "best" else run.trainer.step)  # 'last' and 'final' are the last


def evaluate_run(run: Run, split: str = DEFAULT_SPLIT, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Every metric of ``run.model`` on ``split`` (``semimix.eval.report.classification_report``),
    with what the run, checkpoint and semimix version were; numbers undefined for the run are null.
    Methods whose class scores are not logits (cosines) have no NLL, ECE or reliability bins."""
    from semimix import __version__
    from semimix.eval.report import classification_report
    from semimix.methods.base import scores_are_logits

    x, y = run.samples(split)
    scores = run.class_scores(run.logits(x))
    are_logits = scores_are_logits(run.trainer.class_scores)
    return {
        "run_dir": str(run.run_dir),
        "method": run.config.method,
        "dataset": run.data.name,
        "split": split,
        "checkpoint": run.checkpoint,
        "step": checkpoint_step(run),
        "model": run.trainer.eval_name,
        **classification_report(scores, y, run.data.num_classes, run.data.class_names, bins, None if are_logits else scores),
        "semimix_version": __version__,
    }


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_report(report: dict[str, Any], max_classes: int = 20, max_matrix: int = 10) -> str:
    """A short table: the headline metrics, then per-class accuracy (with confusion-matrix rows for
    up to ``max_matrix`` classes; only the five worst classes beyond ``max_classes``)."""
    from semimix.runs import FINAL

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


def output_names(split: str, checkpoint: str, default: bool) -> tuple[list[str], str]:
    """The JSON file names (the tagged one first, plus ``eval.json`` for the ``default`` evaluation)
    and the PNG's; ``checkpoint`` is the one loaded (``final`` where ``best`` was asked of a run without validation)."""
    tag = f"{split}-{checkpoint}"
    return [f"eval-{tag}.json"] + (["eval.json"] if default else []), f"reliability-{tag}.png"


def evaluate_run_dir(run_dir: str | Path, split: str = DEFAULT_SPLIT, checkpoint: str = DEFAULT_CHECKPOINT, out: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a run's checkpoint on a split, write the JSON report(s) and the reliability diagram
    into ``out`` (default: the run directory) and return the report, with ``written`` (the files)."""
    from semimix import plots
    from semimix.eval.report import write_figure, write_report
    from semimix.runs import load_run

    loaded = load_run(run_dir, checkpoint)
    report = evaluate_run(loaded, split, DEFAULT_BINS)
    folder = Path(out) if out else loaded.run_dir
    json_names, png_name = output_names(split, loaded.checkpoint, (split, checkpoint) == (DEFAULT_SPLIT, DEFAULT_CHECKPOINT))
    rel = report["reliability"]
    figure = None
    if rel is not None:  # the diagram first, so the JSON never names a file that failed to appear
        fig, axes = plots.new_reliability_figure()
        title = f"{loaded.run_dir.name} ({report['method']}): {split} split, {loaded.checkpoint} checkpoint (step {report['step']})"
        plots.draw_reliability_diagram(axes, rel["edges"], rel["count"], _nan(rel["confidence"]), _nan(rel["accuracy"]), report["ece"], title)
        figure = write_figure(fig, folder / png_name)
    report["reliability_diagram"] = png_name if figure is not None else None
    written = [write_report(folder / name, report) for name in json_names] + ([figure] if figure is not None else [])
    return {**report, "written": [str(p) for p in written]}


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


__all__ = ["DEFAULT_CHECKPOINT", "DEFAULT_SPLIT", "checkpoint_step", "evaluate_run", "evaluate_run_dir", "format_report", "output_names"]
