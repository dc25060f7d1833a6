"""``semimix eval RUN_DIR``: evaluate a finished run's checkpoint on a split and keep the numbers.

Writes ``eval-<split>-<checkpoint>.json`` (accuracy, top-5, NLL, ECE with its reliability bins,
per-class accuracy, confusion matrix) and ``reliability-<split>-<checkpoint>.png`` into the run
directory (or ``--out``), so evaluations of other splits and checkpoints sit beside each other;
the default evaluation (test split, best checkpoint) is also written as ``eval.json``. A run
without a validation split has no best checkpoint: ``best`` there evaluates its final weights,
written as ``eval-<split>-final.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from semimix.eval.settings import DEFAULT_BINS

NAME = "eval"
DEFAULT_SPLIT, DEFAULT_CHECKPOINT = "test", "best"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="evaluate a run: accuracy, top-5, NLL, calibration (ECE, reliability diagram), per-class accuracy, confusion matrix",
        description="Evaluate a finished run on its test (or validation) split and write RUN_DIR/eval-<split>-<checkpoint>.json "
        "and a reliability diagram RUN_DIR/reliability-<split>-<checkpoint>.png; the default (test, best) is also written as "
        f"eval.json. ECE uses {DEFAULT_BINS} equal-width confidence bins (Guo et al., 2017). Runs whose outputs are not logits "
        "(negative-cosine losses) have no probabilities: their NLL and ECE are null and no diagram is drawn.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'semimix train'")
    p.add_argument("--split", choices=("test", "val"), default=DEFAULT_SPLIT, help="split to evaluate on (default: test)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default=DEFAULT_CHECKPOINT,
        help="best-on-validation weights or the last evaluated ones (default: best; a run without "
        "a validation split has no best: its final weights, written as eval-<split>-final.json)",
    )
    p.add_argument("--out", metavar="DIR", help="folder for the JSON and PNG (default: RUN_DIR)")
    return p


def output_names(split: str, checkpoint: str, default: bool) -> tuple[list[str], str]:
    """The JSON file names (the tagged one first, plus ``eval.json`` for the ``default`` evaluation)
    and the PNG's; ``checkpoint`` is the one loaded (``final`` where ``best`` was asked of a run without validation)."""
    tag = f"{split}-{checkpoint}"
    return [f"eval-{tag}.json"] + (["eval.json"] if default else []), f"reliability-{tag}.png"


def evaluate_run_dir(run_dir: str | Path, split: str = DEFAULT_SPLIT, checkpoint: str = DEFAULT_CHECKPOINT, out: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a run's checkpoint on a split, write the JSON report(s) and the reliability diagram
    into ``out`` (default: the run directory) and return the report, with ``written`` (the files)."""
    from semimix import plots
    from semimix.eval.report import evaluate_run, write_figure, write_report
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


def run(args: argparse.Namespace) -> int:
    from semimix.eval.report import format_report

    report = evaluate_run_dir(args.run_dir, args.split, args.checkpoint, args.out)
    print(format_report(report))
    print("wrote " + ", ".join(report["written"]))
    return 0


def _nan(values: list[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]
