"""The ``semimix`` command: a thin layer over the Python API that turns SemimixError into a
one-line message and a non-zero exit instead of a traceback."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from semimix.errors import SemimixError


def _labels_arg(value: str) -> int | str:
    if value == "all":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {value!r}") from None


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (no arguments: AdvMixup on scikit-learn's digits, 10 labels per class)",
        description="Train a method on a dataset. Settings come from a preset (--config; default: the bundled "
        "preset named after the dataset, e.g. 'digits'), then the flags below, then --set overrides.",
    )
    p.add_argument("--config", help="a preset: bundled name (see 'semimix presets') or a YAML file")
    p.add_argument("--method", help="method name (see 'semimix methods')")
    p.add_argument("--dataset", help="dataset name (see 'semimix datasets') or a path to a .npz/.csv file")
    p.add_argument("--data-dir", help="root folder holding the datasets' official files")
    p.add_argument("--labels", type=_labels_arg, help="number of labeled training samples, drawn class-balanced, or 'all' (supervised)")
    p.add_argument("--model", help="model name (see 'semimix models'), or auto")
    p.add_argument("--steps", type=int, help="number of optimiser steps")
    p.add_argument("--seed", type=int, help="random seed (data split, init, training)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--out", help="run directory (default: runs/<dataset>-<method>-<time>)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. optim.lr=0.05 or epsilon=2.0 (a hyperparameter of the chosen method)",
    )
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint (with --steps N: train a run, finished or not, to N steps)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel over N processes on this machine (torchrun --standalone --nproc_per_node N); batch sizes stay global",
    )


def build_config_dict(args: argparse.Namespace) -> dict[str, Any]:
    """Preset, then flags, then --set overrides, as one nested dict."""
    from semimix.files import load_yaml
    from semimix.train.config import apply_override
    from semimix.train.presets import PRESET_DIR, load_preset, merge

    if args.config:
        values = load_preset(args.config)
    else:
        dataset_preset = PRESET_DIR / f"{args.dataset or 'digits'}.yaml"
        if args.dataset is None and not dataset_preset.exists():
            raise SemimixError(
                f"the default job's preset {dataset_preset} is missing from this install; reinstall semimix (pip install --force-reinstall semimix)"
            )
        values = load_yaml(dataset_preset) if dataset_preset.exists() else {}
    flags = {
        "method": args.method,
        "model": args.model,
        "steps": args.steps,
        "seed": args.seed,
        "device": args.device,
        "out": args.out,
        "data": {k: v for k, v in {"dataset": args.dataset, "data_dir": args.data_dir, "labels": args.labels}.items() if v is not None},
    }
    values = merge(values, {k: v for k, v in flags.items() if v not in (None, {})})
    if args.quiet:
        values["progress"] = False
    for assignment in args.set:
        apply_override(values, assignment)
    return values


def _launch(args: argparse.Namespace) -> int:
    """``--nproc N``: the same command under torchrun's launcher, one worker per process."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    if args.nproc <= 0:
        raise SemimixError(f"--nproc must be a positive number of processes, got {args.nproc}")
    rest = [a for i, a in enumerate(args.argv) if a != "--nproc" and not (i and args.argv[i - 1] == "--nproc") and not a.startswith("--nproc=")]
    try:
        torchrun(["--standalone", "--nproc_per_node", str(args.nproc), "-m", "semimix", *rest])
    except ChildFailedError:
        return 1  # each worker has printed its own error
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from semimix.api import resume, train
    from semimix.train import distributed
    from semimix.train.config import config_from_dict

    if args.nproc not in (None, 1) and "WORLD_SIZE" not in os.environ:
        return _launch(args)
    if args.resume:
        ignored = [f for f in ("config", "method", "dataset", "labels", "model", "seed", "out") if getattr(args, f)]
        if ignored or args.set:
            raise SemimixError(
                "--resume continues a run with its saved config.yaml (only --steps may change, to train it longer); "
                f"drop {', '.join('--' + f for f in ignored) or '--set'}"
            )
    with distributed.membership():
        summary = resume(args.resume, progress=not args.quiet, steps=args.steps) if args.resume else train(config_from_dict(build_config_dict(args)))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary for the job
        _print_summary(summary)
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    """The run's headline numbers; a split the data lack is said in words, not shown as a number
    (null accuracies mean exactly that: the final step always validates and tests when it can)."""
    tested = summary["test_accuracy"] is not None
    result = f"test accuracy {summary['test_accuracy']:.4f}" if tested else "no test split, so no test accuracy"
    if summary["best_val_accuracy"] is None:
        best = "no validation split, so no best-on-validation checkpoint"
    else:
        best = f"best-on-validation checkpoint: step {summary['best_val_step']}"
        best += f", test accuracy {summary['test_accuracy_at_best_val']:.4f}" if tested else ""
    print(
        f"{summary['method']} on {summary['dataset']} ({summary['labels']} labels, {summary['steps']} steps, {summary['wall_time_s']:.0f} s): {result} [{best}]"
    )
    print(f"run directory: {summary['run_dir']}")


def cmd_methods(_: argparse.Namespace) -> int:
    from semimix.methods import ALIASES, describe_methods

    for row in describe_methods():
        print(f"{row['name']:<22} {row['summary']}")
        print(f"{'':<22} defaults: {', '.join(f'{k}={v}' for k, v in row['defaults'].items()) or '(none)'}")
    print("aliases: " + ", ".join(f"{a} → {n}" for a, n in ALIASES.items()))
    return 0


def cmd_models(_: argparse.Namespace) -> int:
    from semimix.models import describe_models

    for row in describe_models():
        shape = "×".join(map(str, row["reference_input_shape"]))
        print(f"{row['name']:<16} {row['parameters']:>11,} parameters on {shape} inputs   {row['description']}")
    print("auto             cnn-small for (C, H, W) images, mlp otherwise")
    print("torchvision:NAME a torchvision model, e.g. torchvision:resnet18 (pip install 'semimix[torchvision]'); input-level methods only")
    print("timm:NAME        a timm model, e.g. timm:resnet18 (pip install 'semimix[timm]'); input-level methods only")
    print("also: your own nn.Module from Python (semimix.api.train(cfg, model=net), SemiSupervisedClassifier(model=net))")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from semimix.data import list_datasets

    for row in list_datasets(args.data_dir):
        status = "found" if row["found"] else "MISSING"
        print(f"{row['name']:<14} {status:<8} {row['where']:<28} {row['description']}")
    print("also: the path of your own .npz (X, y with -1 = unlabeled) or .csv (features + label column) file")
    return 0


def cmd_presets(_: argparse.Namespace) -> int:
    from semimix.train.presets import PRESET_DIR, preset_names

    for name in preset_names():
        first = (PRESET_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ")
        print(f"{name:<16} {first}")
    return 0


def cmd_two_circles(args: argparse.Namespace) -> int:
    from semimix.studies.two_circles import run_study

    results = run_study(
        args.out,
        steps=args.steps,
        seed=args.seed,
        search=not args.no_search,
        progress=not args.quiet,
        spread_labels=args.spread_labels,
        **({"inner_radius": args.inner_radius} if args.inner_radius is not None else {}),
    )
    print(json.dumps(results, indent=2))
    return 0


def _inner_radius(value: str) -> float:
    try:
        radius = float(value)
    except ValueError:
        radius = math.nan
    if not 0 < radius < 1:
        raise argparse.ArgumentTypeError(f"the inner radius must be a number between 0 and 1 (the outer ring's radius), got {value!r}")
    return radius


def cmd_manifold_figures(args: argparse.Namespace) -> int:
    from semimix.studies.manifold_figures import run_study

    results = run_study(args.out, steps=args.steps, seed=args.seed, progress=not args.quiet)
    for method, r in results["methods"].items():
        print(
            f"{method}: test accuracy {r['test_accuracy']:.3f}, test NLL {r['test_nll']:.4f}, path NLL "
            f"input {r['interpolation']['input']['average']:.3f}, hidden {r['interpolation']['hidden']['average']:.3f}"
        )
    print(f"figures and results.json in {args.out}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    from semimix import __version__

    parser = argparse.ArgumentParser(prog="semimix", description="Semi-supervised learning with virtual samples.")
    parser.add_argument("--version", action="version", version=f"semimix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(sub)
    sub.add_parser("methods", help="list methods with their default hyperparameters")
    sub.add_parser("models", help="list models with parameter counts")
    d = sub.add_parser("datasets", help="list datasets and whether their files were found")
    d.add_argument("--data-dir")
    sub.add_parser("presets", help="list the bundled presets")
    c = sub.add_parser("two-circles", help="the AdvMixup paper's two-circles case study (VAT, ICT, AdvMixup; Fig. 4)")
    c.add_argument("--out", default="runs/two-circles")
    c.add_argument("--steps", type=int, default=3000)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--no-search", action="store_true", help="skip the validation search over ε and α")
    c.add_argument("--spread-labels", action="store_true", help="place each ring's 5 labels evenly round it instead of at random")
    c.add_argument("--inner-radius", type=_inner_radius, default=None, help="the inner ring's radius (outer: 1; default 0.5; 0.8 is the earlier geometry)")
    c.add_argument("--quiet", action="store_true")
    m = sub.add_parser("manifold-figures", help="Manifold Mixup's Figs. 1-2 on two spirals (baseline, input mixup, manifold mixup)")
    m.add_argument("--out", default="runs/manifold-figures")
    m.add_argument("--steps", type=int, default=None, help="training steps per method (default: the two-spirals preset's)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--quiet", action="store_true")
    for command in _run_commands():
        command.add_parser(sub).set_defaults(handler=command.run)
    return parser


def _run_commands() -> list:
    """Commands that work on finished runs, each a module with ``add_parser(sub)`` and ``run(args)``."""
    from semimix.commands import attack, bench, evaluate, export, paths, plot, predict, scar

    return [evaluate, predict, export, attack, paths, plot, scar, bench]


COMMANDS = {
    "train": cmd_train,
    "methods": cmd_methods,
    "models": cmd_models,
    "datasets": cmd_datasets,
    "presets": cmd_presets,
    "two-circles": cmd_two_circles,
    "manifold-figures": cmd_manifold_figures,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv or ["train"])
    if args.command is None:
        argv = ["train", *argv]
        args = parser.parse_args(argv)
    args.argv = argv
    try:
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except SemimixError as exc:
        print(f"semimix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # TrainingStopped says which signal and where the checkpoint is; Ctrl-C says nothing
        print(f"semimix: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)
    except BrokenPipeError:  # the reader went away (`semimix ... | head`): stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit flush cannot fail again
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
