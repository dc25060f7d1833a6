"""Supervised mixup family on MNIST (Untied MixUp paper, Table 3, at a reduced budget):
baseline / input mixup / manifold mixup / untied mixup, with cross-entropy and negative-cosine
losses, several seeds, mean ± 95% confidence interval of the test error as the paper reports.

    python benchmarks/mixup_family.py --data-dir ../shared/datasets --seeds 0,1,2 --steps 600

The paper trains PreActResNet-18 for 200 epochs, 100 runs per row; this runs cnn-small for a
few hundred steps on all labels, so compare orderings, not absolute errors.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

from scipy import stats

from semimix.api import load_config, train

# The paper's implementation: λ per sample, pairs from two independent shuffles of the data.
PAPER = {"use_teacher": False, "pairing": "independent", "per_sample_lambda": True}
# (row name, method, method params) — policies as in the paper's Table 3
ROWS = [
    ("baseline-CE", "supervised", {}),
    ("mixup-CE B(1,1)", "untied-mixup", {**PAPER, "alpha": 2.0, "beta": 1.0}),  # U(B(α+1, α)) ≡ mixup B(α, α)
    ("manifold-mixup-CE", "manifold-mixup", {"alpha": 2.0, "per_sample_lambda": True}),
    ("uMixUp-CE U(B(1.7,1.0))", "untied-mixup", {**PAPER, "alpha": 1.7, "beta": 1.0}),
    ("mixup-NC B(1,1)", "untied-mixup", {**PAPER, "alpha": 2.0, "beta": 1.0, "loss": "nc"}),
    ("uMixUp-NC U(B(1.3,0.9))", "untied-mixup", {**PAPER, "alpha": 1.3, "beta": 0.9, "loss": "nc"}),
]


def mean_ci(errors: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t interval (0 for a single run)."""
    mean = statistics.fmean(errors)
    if len(errors) < 2:
        return mean, 0.0
    return mean, stats.t.ppf(0.975, len(errors) - 1) * statistics.stdev(errors) / len(errors) ** 0.5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--model", default="cnn-small")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--out", default="runs/mixup-family")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    results: dict[str, list[float]] = {}
    started = time.perf_counter()
    for name, method, params in ROWS:
        for seed in (int(s) for s in args.seeds.split(",")):
            out = Path(args.out) / f"{re.sub(r'[^A-Za-z0-9.]+', '-', name).strip('-')}-seed{seed}"
            cfg = load_config(
                None,
                method=method,
                method_params={method: params},
                model=args.model,
                data={"dataset": args.dataset, "data_dir": args.data_dir, "labels": "all"},
                steps=args.steps,
                labeled_batch_size=args.batch,
                eval_every=args.steps,
                optim={"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
                seed=seed,
                threads=args.threads,
                progress=False,
                out=str(out),
            )
            summary = train(cfg)
            results.setdefault(name, []).append(1.0 - summary["test_accuracy"])
            print(f"{name:<26} seed {seed}: test error {100 * results[name][-1]:.2f}%  ({summary['wall_time_s']:.0f} s)", flush=True)
    print(f"\n{args.dataset}, {args.model}, {args.steps} steps × batch {args.batch}, seeds {args.seeds}; total {time.perf_counter() - started:.0f} s")
    print("| model | runs | mean error | 95% CI |\n|---|---|---|---|")
    table = {}
    for name, errors in results.items():
        mean, half = mean_ci(errors)
        table[name] = {"errors": errors, "mean": mean, "ci95": half}
        print(f"| {name} | {len(errors)} | {100 * mean:.2f}% | ±{100 * half:.2f}% |")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
