"""semimix's estimator against scikit-learn's semi-supervised classifiers on its bundled tabular sets.

Digits (flattened 8x8, 10 classes), wine (3), breast cancer (2) and iris (3), each with a seeded
stratified 30% test split. Of the remaining training pool, ``--labels-per-class`` labels per class
are kept (or, with ``--fractions``, a fraction of each class's labels, at least one) and the rest
set to -1. Every classifier sits in a Pipeline after StandardScaler, at its defaults, fitted on one
thread; the table gives accuracy (mean ± std over seeds) and mean fit time.

``--split validation`` never touches the test split: it holds out a stratified 30% of the training
pool as validation data (scored with its true labels) and fits on the rest, so settings can be
chosen without test data. ``--variant NAME=JSON`` adds a semimix row with those estimator arguments
(``epsilon_per_root_feature``: c gives ε = c·√features). A second table pairs the default row with
every other on the same splits: the mean accuracy difference with its 95% interval, and whether it
beats, ties or loses.

    python benchmarks/sklearn_tabular.py --out benchmarks/results/sklearn_tabular_defaults.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from threadpoolctl import threadpool_limits

from semimix.estimator import SemiSupervisedClassifier

DATASETS: dict[str, Callable] = {"digits": load_digits, "wine": load_wine, "breast-cancer": load_breast_cancer, "iris": load_iris}
DEFAULT_ROW = "semimix SemiSupervisedClassifier()"
HELD_OUT = 0.3  # the test split of the whole set, and the validation split of the training pool


def classifiers(seed: int, variants: dict[str, dict[str, Any]], n_features: int) -> dict[str, BaseEstimator]:
    """Every contender at its defaults, by table row name, then the semimix ``variants``; only the
    seed and the thread count are set (neither is a hyperparameter)."""
    rows: dict[str, BaseEstimator] = {DEFAULT_ROW: SemiSupervisedClassifier(random_state=seed, threads=1)}
    rows["sklearn SelfTrainingClassifier(LogisticRegression())"] = SelfTrainingClassifier(LogisticRegression())
    rows['sklearn LabelSpreading(kernel="knn")'] = LabelSpreading(kernel="knn")
    for name, params in variants.items():
        rows[f"semimix {name}"] = SemiSupervisedClassifier(**{"random_state": seed, "threads": 1, **scaled_epsilon(params, n_features)})
    return rows


def scaled_epsilon(params: dict[str, Any], n_features: int) -> dict[str, Any]:
    """``params`` with ``epsilon_per_root_feature`` c (a variant's ε relative to the data) made ``epsilon`` = c·√features."""
    params = dict(params)
    if "epsilon_per_root_feature" in params:
        params["epsilon"] = params.pop("epsilon_per_root_feature") * n_features**0.5
    return params


def keep_labels(y: np.ndarray, per_class: int | None, fraction: float | None, rng: np.random.Generator) -> np.ndarray:
    """``y`` with all but ``per_class`` (or ``fraction``, at least one) labels of each class set to -1."""
    kept = np.full(len(y), -1)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        size = per_class if per_class is not None else max(1, round(float(fraction or 0) * len(rows)))
        take = rng.choice(rows, size=min(size, len(rows)), replace=False)
        kept[take] = y[take]
    return kept


def splits(X: np.ndarray, y: np.ndarray, seed: int, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(fit X, fit y, scored X, scored y): the test split, or for ``validation`` a split of the training pool."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=HELD_OUT, stratify=y, random_state=seed)
    if split == "test":
        return X_train, y_train, X_test, y_test
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=HELD_OUT, stratify=y_train, random_state=seed)
    return X_fit, y_fit, X_val, y_val


def label_settings(per_class: int | None, fractions: list[float]) -> Iterator[tuple[str, int | None, float | None]]:
    """(column name, per class, fraction) for each label setting asked for."""
    if per_class is not None:
        yield f"{per_class}/class", per_class, None
    for fraction in fractions:
        yield f"{fraction:.0%}", None, fraction


def run(seeds: list[int], per_class: int | None, fractions: list[float], split: str, variants: dict[str, dict[str, Any]]) -> list[dict]:
    results = []
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        for setting, count, fraction in label_settings(per_class, fractions):
            for seed in seeds:
                X_fit, y_fit, X_score, y_score = splits(X, y, seed, split)
                partial = keep_labels(y_fit, count, fraction, np.random.default_rng(seed))
                for row, clf in classifiers(seed, variants, X.shape[1]).items():
                    pipe = make_pipeline(StandardScaler(), clf)
                    started = time.perf_counter()
                    with threadpool_limits(1):
                        pipe.fit(X_fit, partial)
                    fit_s = time.perf_counter() - started
                    accuracy = float((pipe.predict(X_score) == y_score).mean())
                    labels = int((partial >= 0).sum())
                    results.append(
                        {"dataset": name, "setting": setting, "labels": labels, "seed": seed, "classifier": row, "accuracy": accuracy, "fit_s": fit_s}
                    )
                    print(f"{name} {setting} seed {seed} {row}: accuracy {accuracy:.3f}, fit {fit_s:.2f} s", flush=True)
    return results


def table(results: list[dict]) -> str:
    """Rows = classifiers, columns = dataset × label setting: accuracy mean ± std (mean fit seconds);
    the best mean of each column in bold."""
    columns = list(dict.fromkeys((r["dataset"], r["setting"]) for r in results))
    rows = list(dict.fromkeys(r["classifier"] for r in results))
    labels = {c: next(r["labels"] for r in results if (r["dataset"], r["setting"]) == c) for c in columns}
    cell: dict[tuple[str, tuple[str, str]], list[dict]] = {}
    for r in results:
        cell.setdefault((r["classifier"], (r["dataset"], r["setting"])), []).append(r)
    means = {k: statistics.fmean(r["accuracy"] for r in runs) for k, runs in cell.items()}
    best = {c: max(means[(row, c)] for row in rows) for c in columns}
    lines = ["| classifier | " + " | ".join(f"{d} {s} ({labels[(d, s)]} labels)" for d, s in columns) + " |", "|---|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            runs = cell[(row, column)]
            acc = [r["accuracy"] for r in runs]
            spread = statistics.stdev(acc) if len(acc) > 1 else 0.0
            text = f"{means[(row, column)]:.3f} ± {spread:.3f}"
            cells.append(f"{f'**{text}**' if means[(row, column)] == best[column] else text} ({statistics.fmean(r['fit_s'] for r in runs):.1f} s)")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(results: list[dict], reference: str = DEFAULT_ROW) -> str:
    """``reference`` against every other row on the same splits and labels: the mean over seeds of
    the per-seed accuracy difference with its 95% t-interval, and a verdict — "beats" or "loses"
    only where the interval excludes 0, else "tie". Pairing removes the split-to-split spread that
    the per-row std carries, so fewer seeds decide more."""
    columns = list(dict.fromkeys((r["dataset"], r["setting"]) for r in results))
    others = [row for row in dict.fromkeys(r["classifier"] for r in results) if row != reference]
    accuracy = {(r["classifier"], r["dataset"], r["setting"], r["seed"]): r["accuracy"] for r in results}
    lines = [f"| {reference} minus | " + " | ".join(f"{d} {s}" for d, s in columns) + " |", "|---|" + "---|" * len(columns)]
    for row in others:
        cells = []
        for d, s in columns:
            seeds = sorted(k[3] for k in accuracy if k[:3] == (reference, d, s) and (row, d, s, k[3]) in accuracy)
            diff = np.array([accuracy[(reference, d, s, seed)] - accuracy[(row, d, s, seed)] for seed in seeds])
            half = float(scipy.stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / len(diff) ** 0.5) if len(diff) > 1 else float("inf")
            verdict = "beats" if diff.mean() - half > 0 else "loses" if diff.mean() + half < 0 else "tie"
            cells.append(f"{diff.mean():+.3f} ± {half:.3f} ({verdict}, {len(diff)} seeds)")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME=JSON`` (e.g. ``vat-eps2={"method": "vat", "epsilon": 2}``) as a row name and estimator arguments."""
    name, _, params = text.partition("=")
    return name, json.loads(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (split, labels and training)")
    parser.add_argument("--labels-per-class", type=int, default=5, help="labels kept per class (0: none, use --fractions only)")
    parser.add_argument("--fractions", default="", help="comma-separated fractions of each class's training labels kept, as more columns")
    parser.add_argument("--split", choices=("test", "validation"), default="test", help="score on the test split or on a validation split of the training pool")
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON: a semimix row with these estimator arguments (repeatable)")
    parser.add_argument("--out", type=Path, help="write the per-run results and the table as JSON here")
    args = parser.parse_args()
    per_class = args.labels_per_class or None
    fractions = [float(f) for f in args.fractions.split(",") if f]
    variants = dict(parse_variant(v) for v in args.variant)
    results = run([int(s) for s in args.seeds.split(",")], per_class, fractions, args.split, variants)
    print(table(results), paired(results), sep="\n\n")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        summary = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": results, "table": table(results), "paired": paired(results)}
        args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
