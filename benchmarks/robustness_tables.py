"""AdvMixup's Tables IV–V at a reduced budget: test error of supervised, ICT and AdvMixup under
white-box and black-box (transfer) FGM attacks, several ε, on MNIST with 100 labels.

    python benchmarks/robustness_tables.py --data-dir ../shared/datasets --steps 1500 --out runs/robustness

Every run uses the ``mnist`` preset with VAT's MNIST MLP (1200-1200, BatchNorm) unless ``--model``
says otherwise. The black-box source is an independently trained supervised model (another seed,
so another initialisation and labeled subset; the official test set is the same). ε is in the
model's input units (standardised pixels), as the paper measures it. The paper's numbers are for
CIFAR-10/SVHN with Conv-Large: compare the ordering of the rows, not the errors.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from semimix.api import load_config, train
from semimix.cli import main as cli

TARGETS = ("supervised", "ict", "advmixup")


def train_run(method: str, model_name: str, args: argparse.Namespace) -> Path:
    seed = args.seed
    out = Path(args.out) / f"{method}-{model_name}-seed{seed}"
    if not (out / "summary.json").exists():  # a half-finished study resumes where it stopped
        model = {"model": model_name, "model_params": {"widths": [1200, 1200], "batchnorm": True}} if model_name == "mlp" else {"model": model_name}
        cfg = load_config(
            "mnist",
            method=method,
            data={"dataset": "mnist", "data_dir": args.data_dir, "labels": args.labels},
            steps=args.steps,
            seed=seed,
            threads=args.threads,
            progress=False,
            out=str(out),
            **model,
        )
        summary = train(cfg)
        print(f"{method} ({model_name}) seed {seed}: test accuracy {summary['test_accuracy']:.4f} ({summary['wall_time_s']:.0f} s)", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--model", default="mlp")
    p.add_argument("--source-model", default="cnn-small", help="architecture of the black-box source (default cnn-small)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eps", default="1,2,3,5,8")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default="runs/robustness")
    args = p.parse_args()
    started = time.perf_counter()
    if args.source_model == args.model:
        p.error("--source-model must differ from --model: with the same seed it would be the supervised target itself")
    targets = [str(train_run(method, args.model, args)) for method in TARGETS]
    source = str(train_run("supervised", args.source_model, args))
    common = ["--attack", "fgm", "--eps", args.eps]
    print("\n## White-box (each model attacks itself)")
    cli(["attack", *targets, *common, "--out", str(Path(args.out) / "white-box")])
    print(f"\n## Black-box (crafted on {source})")
    cli(["attack", *targets, *common, "--source", source, "--out", str(Path(args.out) / "black-box")])
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
