"""``semimix export RUN_DIR``: a run's model as one TorchScript, torch.export or ONNX file that takes
raw inputs; the work (and the check against the run's own model) is ``semimix.workflows.export``'s,
this module parses the arguments and prints."""

from __future__ import annotations

import argparse

NAME = "export"
FORMAT_CHOICES = ("torchscript", "pt2", "onnx")  # semimix.workflows.export.FORMATS, named here so --help needs no torch


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="export a run's model as one file (TorchScript, torch.export or ONNX) that takes raw inputs",
        description="Write a run's trained model as one self-contained file with its preprocessing folded in: it takes raw inputs, "
        "as the run's data files hold them (0..255 pixels for images), as float32 of shape (N, *input shape), and gives (N, C) "
        "class scores (logits: softmax gives probabilities). Before writing, the file is loaded back and checked against the "
        "run's own model on probe inputs; the ONNX check needs onnxruntime (pip install 'semimix[onnx]').",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'semimix train'")
    p.add_argument(
        "--format",
        choices=FORMAT_CHOICES,
        default="torchscript",
        help="torchscript (torch.jit.load), pt2 (torch.export.load(path).module()) or onnx (needs the onnx extra); default: torchscript",
    )
    p.add_argument("--out", metavar="FILE", help="the file to write (default: RUN_DIR/export/model-<checkpoint>.<pt|pt2|onnx>)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="best-on-validation weights or the last evaluated ones (default: best; a run without a validation split: its final weights)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from semimix.workflows.export import export_run

    done = export_run(args.run_dir, args.format, args.out, args.checkpoint)
    check = (
        f"max difference {done.max_difference:.2g} from the run's model {done.checked}" if done.max_difference is not None else f"not checked: {done.checked}"
    )
    shape = ", ".join(str(d) for d in done.input_shape)
    print(f"wrote {done.path} ({done.format}, {done.checkpoint} weights): raw inputs (N, {shape}) -> {len(done.class_names)} class scores; {check}")
    print(f"load it with {done.how_to_load}")
    return 0
