"""``semimix eval RUN_DIR``: evaluate a finished run's checkpoint on a split and keep the numbers;
the work is ``semimix.workflows.evaluate``'s, this module parses the arguments and prints.

Writes ``eval-<split>-<checkpoint>.json`` (accuracy, top-5, NLL, ECE with its reliability bins,
per-class accuracy, confusion matrix) and ``reliability-<split>-<checkpoint>.png`` into the run
directory (or ``--out``), so evaluations of other splits and checkpoints sit beside each other;
the default evaluation (test split, best checkpoint) is also written as ``eval.json``. A run
without a validation split has no best checkpoint: ``best`` there evaluates its final weights,
written as ``eval-<split>-final.json``.
"""

from __future__ import annotations

import argparse

from semimix.eval.settings import DEFAULT_BINS, SPLITS
from semimix.workflows.evaluate import DEFAULT_CHECKPOINT, DEFAULT_SPLIT

NAME = "eval"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="evaluate a run: accuracy, top-5, NLL, calibration (ECE, reliability diagram), per-class accuracy, confusion matrix",
        description="Evaluate a finished run on its test (or validation, labeled or unlabeled) split and write RUN_DIR/eval-<split>-<checkpoint>.json "
        "and a reliability diagram RUN_DIR/reliability-<split>-<checkpoint>.png; the default (test, best) is also written as "
        f"eval.json. ECE uses {DEFAULT_BINS} equal-width confidence bins (Guo et al., 2017). Runs whose outputs are not logits "
        "(negative-cosine losses) have no probabilities: their NLL and ECE are null and no diagram is drawn.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'semimix train'")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default=DEFAULT_SPLIT,
        help="test, val, or the training samples before augmentation: labeled (did the model fit its labels?) or unlabeled "
        "(their true labels, where the dataset has them: the transductive accuracy) (default: test)",
    )
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default=DEFAULT_CHECKPOINT,
        help="best-on-validation weights or the last evaluated ones (default: best; a run without "
        "a validation split has no best: its final weights, written as eval-<split>-final.json)",
    )
    p.add_argument("--out", metavar="DIR", help="folder for the JSON and PNG (default: RUN_DIR)")
    return p


def run(args: argparse.Namespace) -> int:
    from semimix.workflows.evaluate import evaluate_run_dir, format_report

    report = evaluate_run_dir(args.run_dir, args.split, args.checkpoint, args.out)
    print(format_report(report))
    print("wrote " + ", ".join(report["written"]))
    return 0
