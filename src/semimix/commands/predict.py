"""``semimix predict RUN_DIR INPUTS...``: a run's predictions for new inputs, as CSV on stdout or in
``--out``; the work is ``semimix.workflows.predict``'s (it reads the model from the run's checkpoint,
not its training data), this module parses the arguments and prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semimix.errors import SemimixError
from semimix.eval.settings import PREDICT_BATCH

NAME = "predict"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="predict classes for new inputs (.npz, .csv, images or folders of images) with a trained run",
        description="Predict the class of every input with a run's model, opened from its checkpoint alone (the training data "
        "need not be there), and write CSV rows input,prediction,class_name,p_<class>... (input: the file, or the row "
        "index of a .npz/.csv file). Inputs are raw, as the run's data came (0..255 pixels for images), of the run's input "
        "shape: a .npz's array X (or its only array) and .csv rows (a header row allowed) as samples of that shape or flat "
        "rows of as many features; images of the run's width and height (any size if the run set data.image_size: they are resized alike).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'semimix train'")
    p.add_argument("inputs", metavar="INPUTS", nargs="+", help=".npz or .csv files, image files or folders of images")
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="best-on-validation weights or the last evaluated ones (default: best; a run without a validation split: its final weights)",
    )
    p.add_argument("--out", metavar="FILE.csv", help="write the CSV here (default: stdout)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto, CUDA when present)")
    p.add_argument("--batch-size", type=int, default=PREDICT_BATCH, metavar="N", help=f"inputs per forward pass (default: {PREDICT_BATCH})")
    return p


def run(args: argparse.Namespace) -> int:
    from semimix import files
    from semimix.workflows.predict import predict_files

    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise SemimixError(f"--out {out} is a folder; give the path of the CSV file to write")
    predictions = predict_files(args.run_dir, args.inputs, args.checkpoint, args.device, args.batch_size)
    text = predictions.to_csv()
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        files.write_text(out, text)
    except OSError as exc:
        raise SemimixError(f"cannot write {out} ({exc.strerror or exc})") from None
    print(f"wrote {len(predictions.names)} predictions ({predictions.checkpoint} weights) to {out}")
    return 0
