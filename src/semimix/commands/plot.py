"""``semimix plot RUN_DIR...``: training curves of one or several runs on shared axes, and for runs
on two-class 2-D data the decision boundary of each.

The curves come from each run's ``metrics.csv`` alone (no dataset or model is loaded for them):
one panel per quantity (the loss terms, the learning rate, validation accuracy and NLL) against
the step, one line per run, named ``<run directory> (<method>)``. A run whose dataset can be 2-D
(a generated toy, or a user's .npz/.csv file) is opened with its checkpoint, and if its inputs
are 2-D with two classes, ``RUN_DIR/boundary-<checkpoint>.png`` shows p(class 1) over the plane,
the p = 0.5 boundary and the training points, drawn with the two-circles study's functions.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

NAME = "plot"
DEFAULT_RESOLUTION = 300  # grid points per axis of the boundary plot


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="plot training curves of one or several runs (and decision boundaries of 2-D runs)",
        description="Draw the training curves (loss terms, learning rate, validation accuracy and NLL against the step) "
        "of one or several runs on shared axes. For runs on two-class 2-D data, also write RUN_DIR/boundary-<checkpoint>.png.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by 'semimix train'")
    p.add_argument(
        "--out",
        metavar="FILE.png",
        help="the curves figure (default: RUN_DIR/curves.png for one run, curves.png in the runs' common parent folder for several)",
    )
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="weights drawn in the decision-boundary plots (default: best)")
    p.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, help=f"grid points per axis of the boundary plots (default: {DEFAULT_RESOLUTION})")
    return p


def default_out(run_dirs: list[Path]) -> Path:
    if len(run_dirs) == 1:
        return run_dirs[0] / "curves.png"
    return Path(os.path.commonpath([str(p.resolve()) for p in run_dirs])) / "curves.png"


def _unique_labels(labels: list[str], run_dirs: list[Path]) -> list[str]:
    """Run labels, with the parent folder prepended where two runs share a directory name."""
    return [f"{d.parent.name}/{label}" if labels.count(label) > 1 else label for label, d in zip(labels, run_dirs)]


def may_be_two_d(dataset: Any) -> bool:
    """Whether a run's dataset can have 2-D inputs, judged from its name without loading it: the
    generated toys and users' .npz/.csv files can; digits, MNIST-1D, the image benchmarks and image
    folders cannot (and are never loaded just to find out)."""
    from semimix.data import find_dataset, toys

    if not isinstance(dataset, str):
        return False
    if Path(dataset).suffix.lower() in (".npz", ".csv"):
        return True
    entry = find_dataset(dataset)
    return entry is not None and getattr(entry.load, "__module__", None) == toys.__name__


def draw_boundary(run_dir: Path, checkpoint: str, resolution: int) -> Path | str:
    """The boundary figure's path, or why there is none (a run on data that is not 2-D, 2-class)."""
    import numpy as np

    from semimix import plots
    from semimix.data.bundle import in_memory
    from semimix.eval.report import write_figure
    from semimix.eval.robustness import ScoreModel
    from semimix.methods.base import scores_are_logits
    from semimix.runs import load_run
    from semimix.studies.two_circles import decision_boundary, evaluate_grid, square_extent
    from semimix.workflows.evaluate import checkpoint_step

    loaded = load_run(run_dir, checkpoint)
    data = loaded.data
    if data.input_shape != (2,) or data.num_classes != 2:
        return f"no decision boundary: inputs of shape {data.input_shape} with {data.num_classes} classes (drawn for 2-D inputs, 2 classes)"
    # 2-D inputs are tensors (only image folders stream from files); in_memory says so to the type checker, or refuses
    x_labeled, x_unlabeled, x_val, x_test = (in_memory(x) for x in (data.x_labeled, data.x_unlabeled, data.x_val, data.x_test))
    splits = [t.numpy() for t in (x_labeled, x_unlabeled, x_val, x_test) if len(t)]
    extent = square_extent(np.concatenate(splits))
    prep = data.preprocess.to(loaded.trainer.device) if data.preprocess is not None else None
    # raw inputs → per-class scores: preprocess, model, and the method's class scores for outputs that are not logits
    grid = evaluate_grid(ScoreModel(loaded.model, loaded.trainer.class_scores, prep), extent, resolution)
    boundary = decision_boundary(grid)
    if data.y_unlabeled_true is not None and len(x_unlabeled):
        points, point_labels = x_unlabeled.numpy(), data.y_unlabeled_true.numpy()
    else:  # unlabeled classes unknown: show the test (or validation) points instead
        points, point_labels = (x_test.numpy(), data.y_test.numpy()) if len(x_test) else (x_val.numpy(), data.y_val.numpy())
    split = "test" if len(x_test) else "val"
    accuracy = loaded.evaluate(split)["accuracy"] if len(x_test) or len(x_val) else float("nan")
    title = f"{run_dir.name} ({loaded.config.method}), {loaded.checkpoint} checkpoint (step {checkpoint_step(loaded)})\n{split} accuracy {accuracy:.3f}" + (
        "" if scores_are_logits(loaded.trainer.class_scores) else "; colours: softmax of the class scores"
    )
    fig, axes = plots.new_figure()
    plots.draw_decision_boundary(
        axes[0], grid.xs, grid.ys, grid.prob, boundary, points, point_labels, x_labeled.numpy(), list(data.class_names) or ["class 0", "class 1"], title
    )
    return write_figure(fig, run_dir / f"boundary-{loaded.checkpoint}.png")


def run(args: argparse.Namespace) -> int:
    from semimix import plots
    from semimix.errors import SemimixError
    from semimix.eval.curves import load_curves, plotted_quantities
    from semimix.eval.report import write_figure
    from semimix.files import load_yaml

    if args.resolution < 2:
        raise SemimixError(f"--resolution must be at least 2, got {args.resolution}")
    curves = [load_curves(d) for d in args.run_dirs]  # checks every path before anything is drawn
    run_dirs = [c.run_dir for c in curves]
    out = Path(args.out) if args.out else default_out(run_dirs)
    quantities = plotted_quantities(curves)
    if not quantities:
        raise SemimixError(f"nothing to plot: {', '.join(map(str, run_dirs))} logged no values yet")
    labels = _unique_labels([c.label for c in curves], run_dirs)
    series = [(label, {q: s for q in quantities if (s := c.series(q)) is not None}) for label, c in zip(labels, curves)]
    fig = plots.draw_training_curves(quantities, series, title="training curves" if len(curves) == 1 else f"training curves of {len(curves)} runs")
    print(f"wrote {write_figure(fig, out)}")
    for curve in curves:
        if may_be_two_d((load_yaml(curve.run_dir / "config.yaml").get("data") or {}).get("dataset")):
            result = draw_boundary(curve.run_dir, args.checkpoint, args.resolution)
            print(f"wrote {result}" if isinstance(result, Path) else f"{curve.run_dir}: {result}")
    return 0
