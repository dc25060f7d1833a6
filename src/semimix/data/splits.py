"""Seeded, class-balanced index splits, so every method sees the same data for the same seed.

Every function takes ``seed`` as an int (the run seed) or a ``numpy.random.Generator``; a loader
that makes several draws creates one Generator from the run seed and passes it to each, so the
draws are independent yet reproducible.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from semimix.data.readers.checks import format_values
from semimix.errors import SemimixError

Seed = int | np.random.Generator

ALL_LABELS = "all"  # every training sample labeled: supervised training


def resolve_count(size: float | int, n: int, what: str = "size") -> int:
    """Turn a fraction (float < 1) or a count (int) of ``n`` samples into a count.

    ``what`` names the setting (e.g. ``val_size``) so the message tells the user what to change.
    """
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise SemimixError(f"{what} must be a fraction (e.g. 0.1) or a count (e.g. 100), got {size!r}")
    if isinstance(size, (float, np.floating)):
        if not 0.0 <= size < 1.0:
            raise SemimixError(f"{what}={size} is not a fraction in [0, 1); give a fraction like 0.1 or an integer count")
        return int(round(size * n))
    if not 0 <= size < n:
        raise SemimixError(f"{what}={size} must be a count from 0 to {n - 1} (there are {n} samples); lower it")
    return int(size)


def class_quota(num_classes: int, n: int, seed: Seed) -> np.ndarray:
    """Per-class counts summing to ``n``: ``n // C`` each, the remainder to the first classes of a seeded order."""
    rng = np.random.default_rng(seed)
    quota = np.full(num_classes, n // num_classes, dtype=np.int64)
    quota[rng.permutation(num_classes)[: n % num_classes]] += 1
    return quota


def check_enough_labels(n_labels: int | str, num_classes: int) -> None:
    """Every class needs at least one labeled sample, so ``n_labels`` must cover them all."""
    if n_labels == ALL_LABELS:
        return
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)):
        raise SemimixError(f"labels must be an integer count of labeled samples or 'all', got {n_labels!r}")
    if n_labels < num_classes:
        raise SemimixError(f"labels={n_labels!r} is fewer than the {num_classes} classes; set labels to an integer of at least {num_classes} (one per class)")


def stratified_split(y: np.ndarray, size: float | int, seed: Seed, what: str = "size") -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into (keep, split) with ``size`` samples in ``split``, class proportions kept.

    Per-class counts use the largest-remainder rule (ties broken by a seeded order), so the
    split has exactly the asked size. Both index arrays are sorted.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    k = resolve_count(size, len(y), what)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    exact = k * counts / len(y)
    quota = np.floor(exact).astype(np.int64)
    remainder = k - int(quota.sum())
    tie_break = rng.permutation(len(classes))
    order = tie_break[np.argsort(-(exact - quota)[tie_break], kind="stable")]
    quota[order[:remainder]] += 1
    split = [rng.choice(np.flatnonzero(inverse == c), size=quota[c], replace=False) for c in range(len(classes))]
    split_idx = np.sort(np.concatenate(split)) if split else np.empty(0, dtype=np.int64)
    keep_idx = np.setdiff1d(np.arange(len(y)), split_idx)
    return keep_idx, split_idx


def balanced_labeled_subset(y: np.ndarray, n_labels: int | str, seed: Seed) -> np.ndarray:
    """Sorted indices of ``n_labels`` samples of ``y``, ``n_labels // C`` per class (remainder: seeded
    classes); ``"all"`` labels every sample (supervised training, no unlabeled data)."""
    y = np.asarray(y)
    if n_labels == ALL_LABELS:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    check_enough_labels(n_labels, len(classes))
    quota = class_quota(len(classes), int(n_labels), rng)
    short = np.flatnonzero(counts < quota)
    if short.size:
        c = short[0]
        raise SemimixError(
            f"class {classes[c]} has only {counts[c]} samples but {quota[c]} labeled samples were asked "
            f"(labels={n_labels}); lower labels to at most {len(classes) * counts.min()}"
        )
    picked = [rng.choice(np.flatnonzero(inverse == c), size=quota[c], replace=False) for c in range(len(classes))]
    return np.sort(np.concatenate(picked))


def check_classes(y: np.ndarray, num_classes: int, class_names: list[str], source: str, hint: str = "") -> None:
    """At least 2 classes, and every class needs a labeled training sample, or it cannot be learned."""
    labeled = y[y >= 0]
    if labeled.size == 0:
        raise SemimixError(f"{source} has no labeled samples{hint}; label at least one sample of each class")
    if num_classes < 2:
        raise SemimixError(f"{source} has only 1 class ({class_names[0]}){hint}; a classifier needs at least 2 classes")
    if labeled.size < num_classes:
        raise SemimixError(
            f"{source} has {labeled.size} labeled samples for {num_classes} classes (0..{num_classes - 1}){hint}; "
            "number the classes 0..C-1 and label at least one sample of each"
        )
    missing = np.setdiff1d(np.arange(num_classes), labeled)
    if missing.size:
        names = format_values(np.asarray(class_names)[missing])
        which = f"class {names} has" if missing.size == 1 else f"classes {names} have"
        raise SemimixError(
            f"{source}: {which} no labeled sample{hint}; class ids must be 0..C-1 with every class "
            "labeled at least once (renumber the classes or label more samples)"
        )


def carve_labeled(y: np.ndarray, size: float | int, rows: np.ndarray, seed: Seed, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split of ``size`` labeled samples (``y >= 0``) out of ``rows``: (the carved rows, the rows left), both sorted.

    A fraction is of all the labeled samples of ``y``, not only of ``rows``, so that carving a test
    set first does not shrink a validation fraction; ``what`` names the setting in errors.
    """
    count = resolve_count(size, int((y >= 0).sum()), what)
    labeled = rows[y[rows] >= 0]
    taken = labeled[stratified_split(y[labeled], count, seed, what)[1]]
    return taken, np.setdiff1d(rows, taken)


@overload
def resolve_labels(labels: int | str | None, labels_per_class: int | None, num_classes: int, default: int) -> int | str: ...
@overload
def resolve_labels(labels: int | str | None, labels_per_class: int | None, num_classes: int, default: None) -> int | str | None: ...
def resolve_labels(labels: int | str | None, labels_per_class: int | None, num_classes: int, default: int | None) -> int | str | None:
    """The total labeled count asked for: ``labels``, or ``labels_per_class`` × classes, else ``default``.

    Both set is ambiguous (which one wins?), so it is an error rather than a silent choice.
    """
    if labels is not None and labels_per_class is not None:
        raise SemimixError(
            f"labels={labels} and labels_per_class={labels_per_class} are both set; "
            "set only one (labels is the total, labels_per_class the count of each class)"
        )
    if labels_per_class is None:
        return default if labels is None else labels
    if isinstance(labels_per_class, bool) or not isinstance(labels_per_class, (int, np.integer)) or labels_per_class < 1:
        raise SemimixError(f"labels_per_class must be a positive integer, got {labels_per_class!r}")
    return int(labels_per_class) * num_classes
