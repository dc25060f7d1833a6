"""How much of a run's test error is its BatchNorm running statistics rather than its weights.

A model evaluates with the running means and variances its BatchNorm layers accumulated over training
batches (augmented, mixed, of images it has fitted). This re-estimates them on clean images with the
weights fixed (train-mode forward passes, cumulative averages) and evaluates again: where the two test
accuracies differ, a table comparing methods is partly comparing BatchNorm statistics.

    python benchmarks/bn_recalibration.py RUN_DIR [RUN_DIR ...] [--checkpoint last] [--unlabeled 8000]
"""

from __future__ import annotations

import argparse
import sys

from semimix.errors import SemimixError
from semimix.ops import reestimate_batchnorm
from semimix.runs import load_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories")
    parser.add_argument("--checkpoint", choices=["best", "last"], default="last")
    parser.add_argument("--unlabeled", type=int, default=8000, help="how many unlabeled images to re-estimate on")
    args = parser.parse_args()
    print("run | test accuracy: saved statistics | re-estimated on labeled | re-estimated on unlabeled")
    for path in args.runs:
        try:
            run = load_run(path, args.checkpoint)
        except SemimixError as error:  # not a run directory, or its data moved: say so, no traceback
            sys.exit(f"bn_recalibration: {error}")
        saved = run.evaluate("test")["accuracy"]
        reestimated = []
        for x in (run.data.x_labeled, run.data.x_unlabeled[: args.unlabeled]):
            reestimate_batchnorm(run.model, (run.preprocess(batch) for batch in x.split(200)))
            reestimated.append(run.evaluate("test")["accuracy"])
        print(f"{path} | {saved:.4f} | {reestimated[0]:.4f} | {reestimated[1]:.4f}")


if __name__ == "__main__":
    main()
