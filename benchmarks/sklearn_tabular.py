"""semimix's estimator against scikit-learn's semi-supervised classifiers on small tabular data.

Digits (flattened 8x8, 10 classes), breast cancer (2) and wine (3), each with a seeded stratified
30% test split and a fraction of the remaining training labels kept (class-stratified, at least
one per class; the rest -1). Every classifier sits in a Pipeline after StandardScaler and is
fitted on one thread; the table gives test accuracy (mean ± std over seeds) and fit time.

    python benchmarks/sklearn_tabular.py --seeds 0,1,2 --fractions 0.05,0.1 --out benchmarks/results/sklearn_tabular.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from threadpoolctl import threadpool_limits

from semimix.estimator import SemiSupervisedClassifier

DATASETS: dict[str, Callable] = {"digits": load_digits, "breast-cancer": load_breast_cancer, "wine": load_wine}
SEMIMIX = ("supervised", "mean-teacher", "vat", "ict", "advmixup")


def classifiers(steps: int, seed: int) -> dict[str, BaseEstimator]:
    """Every contender, by table row name; semimix rows use the estimator's defaults (the tabular preset)."""
    rows: dict[str, BaseEstimator] = {
        f"semimix {m}": SemiSupervisedClassifier(method=m, steps=steps, random_state=seed, threads=1, device="cpu") for m in SEMIMIX
    }
    rows["sklearn SelfTraining(LogReg)"] = SelfTrainingClassifier(LogisticRegression(max_iter=1000), threshold=0.9)
    rows["sklearn LabelSpreading(knn)"] = LabelSpreading(kernel="knn", n_neighbors=7, max_iter=100)
    return rows


def mask_labels(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``y`` with all but ``fraction`` of each class's labels set to -1 (at least one kept per class)."""
    kept = np.full(len(y), -1)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        take = rng.choice(rows, size=max(1, round(fraction * len(rows))), replace=False)
        kept[take] = y[take]
    return kept


def run(seeds: list[int], fractions: list[float], steps: int) -> list[dict]:
    results = []
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        for fraction in fractions:
            for seed in seeds:
                X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
                partial = mask_labels(y_train, fraction, np.random.default_rng(seed))
                for row, clf in classifiers(steps, seed).items():
                    pipe = make_pipeline(StandardScaler(), clf)
                    started = time.perf_counter()
                    with threadpool_limits(1):
                        pipe.fit(X_train, partial)
                    fit_s = time.perf_counter() - started
                    accuracy = float((pipe.predict(X_test) == y_test).mean())
                    results.append(
                        {
                            "dataset": name,
                            "fraction": fraction,
                            "labels": int((partial >= 0).sum()),
                            "seed": seed,
                            "classifier": row,
                            "accuracy": accuracy,
                            "fit_s": fit_s,
                        }
                    )
                    print(f"{name} {fraction:.0%} seed {seed} {row}: accuracy {accuracy:.3f}, fit {fit_s:.2f} s", flush=True)
    return results


def table(results: list[dict]) -> str:
    """Rows = classifiers, columns = dataset × label fraction: accuracy mean ± std (fit seconds)."""
    columns = sorted({(r["dataset"], r["fraction"]) for r in results}, key=lambda c: (list(DATASETS).index(c[0]), c[1]))
    rows = list(dict.fromkeys(r["classifier"] for r in results))
    labels = {c: next(r["labels"] for r in results if (r["dataset"], r["fraction"]) == c) for c in columns}
    lines = ["| classifier | " + " | ".join(f"{d} {f:.0%} ({labels[(d, f)]} labels)" for d, f in columns) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            runs = [r for r in results if r["classifier"] == row and (r["dataset"], r["fraction"]) == column]
            acc = [r["accuracy"] for r in runs]
            spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
            cells.append(f"{statistics.fmean(acc):.3f} ± {spread:.3f} ({statistics.fmean(r['fit_s'] for r in runs):.1f} s)")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (split, labels and training)")
    parser.add_argument("--fractions", default="0.05,0.1", help="comma-separated fractions of training labels kept")
    parser.add_argument("--steps", type=int, default=1000, help="semimix training steps")
    parser.add_argument("--out", type=Path, help="write the per-run results and the table as JSON here")
    args = parser.parse_args()
    results = run([int(s) for s in args.seeds.split(",")], [float(f) for f in args.fractions.split(",")], args.steps)
    print(table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": results, "table": table(results)}, indent=1))


if __name__ == "__main__":
    main()
