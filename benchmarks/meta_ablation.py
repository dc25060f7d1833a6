"""Meta-gradient SSL, Table 4 ablation (meta off/on × mixup off/on) at a reduced budget on MNIST-1D
with cnn1d, several seeds, mean ± std of the test error (final model); then the step time of
meta-gradient (first-order and exact) against supervised and ICT, measured in this process.

    python benchmarks/meta_ablation.py --seeds 0,1,2 --steps 2000 --labels 100

The paper's rows are SVHN/CIFAR with Conv-Large for 400k steps; compare orderings, not errors.
Every row uses the ``mnist1d`` preset (paper formulation, no reference-code quirks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from semimix.api import load_config, train
from semimix.train.trainer import Trainer

ROWS = [  # (Table 4 row, method) — the four variants share the preset's hyperparameters
    ("1  meta -  mixup -", "meta-gradient-neither"),
    ("2  meta +  mixup -", "meta-gradient-no-mixup"),
    ("3  meta -  mixup +", "meta-gradient-mixup-only"),
    ("4  meta +  mixup +", "meta-gradient"),
]


def config(method: str, args: argparse.Namespace, seed: int, out: str, steps: int | None = None, params: dict | None = None):
    overrides = {"method_params": {method: params}} if params else {}
    return load_config(
        "mnist1d",
        method=method,
        data={"dataset": "mnist1d", "labels": args.labels},
        steps=steps or args.steps,
        eval_every=steps or args.steps,
        seed=seed,
        threads=args.threads,
        progress=False,
        out=out,
        **overrides,
    )


def step_times(args: argparse.Namespace) -> dict[str, float]:
    """Median ms per training step after a warm-up, same data, model, batch sizes and thread count."""
    methods = [
        ("supervised", "supervised", None),
        ("ict", "ict", {"weight": 10.0, "alpha": 1.0}),
        ("meta-gradient (first-order)", "meta-gradient", None),
        ("meta-gradient (exact)", "meta-gradient", {"algorithm": "exact"}),
    ]
    times = {}
    for label, method, params in methods:
        trainer = Trainer(config(method, args, 0, str(Path(args.out) / f"timing-{method}-{len(times)}"), 10**6, params))
        for _ in range(20):
            trainer.train_step()
        samples = []
        for _ in range(args.timing_steps):
            started = time.perf_counter()
            trainer.train_step()
            samples.append(time.perf_counter() - started)
        times[label] = 1000 * statistics.median(samples)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--timing-steps", type=int, default=200)
    p.add_argument("--out", default="runs/meta-ablation")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    results: dict[str, list[float]] = {}
    for row, method in ROWS:
        for seed in (int(s) for s in args.seeds.split(",")):
            summary = train(config(method, args, seed, str(Path(args.out) / f"{method}-seed{seed}")))
            results.setdefault(row, []).append(1.0 - summary["test_accuracy"])
            print(f"{row} ({method}) seed {seed}: test error {100 * results[row][-1]:.2f}%  ({summary['wall_time_s']:.0f} s)", flush=True)
    times = step_times(args)
    print(
        f"\nMNIST-1D, {args.labels} labels, cnn1d, {args.steps} steps, batches 64+64, seeds {args.seeds}, "
        f"{args.threads} thread(s); total {time.perf_counter() - started:.0f} s"
    )
    print("| row | meta | mixup | test error (mean ± std) | runs |\n|---|---|---|---|---|")
    table = {}
    for (row, method), errors in zip(ROWS, results.values()):
        mean, std = statistics.fmean(errors), statistics.stdev(errors) if len(errors) > 1 else 0.0
        table[method] = {"errors": errors, "mean": mean, "std": std}
        meta, mixup = ("✓" if "meta +" in row else ""), ("✓" if "mixup +" in row else "")
        print(f"| {row[0]} ({method}) | {meta} | {mixup} | {100 * mean:.2f}% ± {100 * std:.2f}% | {len(errors)} |")
    base = times["supervised"]
    print("\n| method | ms / step | × supervised | × ict |\n|---|---|---|---|")
    for label, ms in times.items():
        print(f"| {label} | {ms:.2f} | {ms / base:.2f} | {ms / times['ict']:.2f} |")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps({"errors": table, "step_ms": times, "args": vars(args)}, indent=2))


if __name__ == "__main__":
    main()
