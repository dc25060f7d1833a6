"""Turn a dataset's arrays into a DataBundle: the one recipe every loader follows (``split_and_bundle``:
carve test and validation sets, draw the labels class-balanced, bundle), and the bundling itself
(``make_bundle``).

Every loader ends here, so the split, the labeled/unlabeled bookkeeping, the recorded split indices,
normalisation and tensor dtypes are the same for built-in, benchmark and user datasets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from semimix.data.bundle import DataBundle
from semimix.data.splits import Seed, balanced_labeled_subset, carve_labeled, check_classes
from semimix.data.streaming import FileImages
from semimix.errors import SemimixError

Split = tuple[np.ndarray, np.ndarray]
ImageSplit = tuple[np.ndarray | FileImages, np.ndarray]  # a split whose images may be files (a streamed folder)
# A dataset's inputs: one array, functions that read its rows file by file (see ``gather_rows``), or image files
Pool = np.ndarray | list[Callable[[], np.ndarray]] | FileImages
# A validation or test set the loader has apart from the pool: the set, or a function that draws it
HeldOut = ImageSplit | Callable[[], ImageSplit]


def standardize_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the training inputs: per channel for (N, C, H, W) images, else per feature.

    A constant feature gets std 1, so it maps to 0 instead of dividing by zero.
    """
    axes = (0, 2, 3) if x_train.ndim == 4 else (0,)
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True)
    return mean, np.where(std > 0, std, 1.0)


def gather_rows(parts: list[Callable[[], np.ndarray]], total: int, index_sets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of the concatenation of the arrays that ``parts`` return (``total`` rows), at each index array.

    Each part is called once, in order, and its array dropped as soon as its rows are copied, so
    a dataset stored in several files (CIFAR's five batches) is decoded one file at a time and
    never held twice in memory.
    """
    out: dict[str, np.ndarray] = {}
    start = 0
    for part in parts:
        chunk = part()
        if not out:
            out = {key: np.empty((len(idx), *chunk.shape[1:]), chunk.dtype) for key, idx in index_sets.items()}
        stop = start + len(chunk)
        for key, idx in index_sets.items():
            inside = (idx >= start) & (idx < stop)
            out[key][inside] = chunk[idx[inside] - start]
        del chunk
        start = stop
    if start != total:
        raise SemimixError(f"the training files now hold {start} samples but {total} labels were read from them; they changed while loading, load again")
    return out


def _inputs(x: np.ndarray | FileImages) -> torch.Tensor | FileImages:
    """uint8 images stay uint8 (4× smaller; the trainer converts each batch), the rest become float32;
    image files stay files."""
    if isinstance(x, FileImages):
        return x
    if x.dtype == np.uint8:
        return torch.from_numpy(x if x.flags.writeable and x.flags.c_contiguous else np.array(x))
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def make_bundle(
    name: str,
    x_train: np.ndarray | list[Callable[[], np.ndarray]] | FileImages,
    y_train: np.ndarray,
    labeled_idx: np.ndarray,
    val: ImageSplit | np.ndarray,
    test: ImageSplit,
    num_classes: int,
    class_names: list[str],
    *,
    unlabeled_includes_labeled: bool,
    normalize: bool = False,
    pool_ids: np.ndarray | None = None,
    split: dict[str, np.ndarray] | None = None,
) -> DataBundle:
    """Split the training pool into labeled (``labeled_idx``), validation and unlabeled (the rest) rows.

    ``x_train`` is one array, or functions that read its rows file by file (see ``gather_rows``;
    ``y_train`` must then count them all, and ``normalize`` needs one array), or image files read
    batch by batch in training (``FileImages``; every ``x_*`` is then a subset of them). ``val`` is
    a separate (x, y) set or the indices of the pool rows carved out for validation. ``y_train``
    holds true labels where known and -1 elsewhere; ``y_unlabeled_true`` is filled only when every
    unlabeled sample's label is known. ``normalize`` standardises with statistics of the training
    rows (never validation or test rows).

    ``bundle.split`` records the split as int64 indices: ``labeled``, ``unlabeled`` (in the order
    of ``x_unlabeled``) and, when carved, ``val``, as ``pool_ids`` of the pool rows (default: the
    row numbers), plus the loader's own entries in ``split``.
    """
    n = len(y_train)
    rest = np.ones(n, dtype=bool)
    rest[labeled_idx] = False
    if isinstance(val, np.ndarray):  # carved from the pool (written out each time, so that mypy narrows ``val``)
        rest[val] = False
    unlabeled_idx = np.flatnonzero(rest)
    if unlabeled_includes_labeled:
        unlabeled_idx = np.concatenate([unlabeled_idx, labeled_idx])
    (x_test, y_test) = test
    standardization = None
    if normalize:
        train_rows = np.setdiff1d(np.arange(n), val) if isinstance(val, np.ndarray) else slice(None)
        mean, std = standardize_stats(np.asarray(x_train, dtype=np.float64)[train_rows])
        standardization = (mean, std)
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std
        if not isinstance(val, np.ndarray):
            val = ((val[0] - mean) / std, val[1])
    rows = {"labeled": np.asarray(labeled_idx, dtype=np.int64), "unlabeled": unlabeled_idx.astype(np.int64)}
    if isinstance(val, np.ndarray):
        rows["val"] = np.asarray(val, dtype=np.int64)
    x: Mapping[str, np.ndarray | FileImages]
    if isinstance(x_train, FileImages):
        x = {key: x_train.subset(idx) for key, idx in rows.items()}
    else:
        x = gather_rows(x_train if isinstance(x_train, list) else [lambda: x_train], n, rows)
    x_val, y_val = (x["val"], y_train[val]) if isinstance(val, np.ndarray) else val
    ids = np.arange(n, dtype=np.int64) if pool_ids is None else np.asarray(pool_ids, dtype=np.int64)
    y_unlabeled = y_train[unlabeled_idx]
    return DataBundle(
        name=name,
        x_labeled=_inputs(x["labeled"]),
        y_labeled=_labels(y_train[labeled_idx]),
        x_unlabeled=_inputs(x["unlabeled"]),
        x_val=_inputs(x_val),
        y_val=_labels(y_val),
        x_test=_inputs(x_test),
        y_test=_labels(y_test),
        num_classes=num_classes,
        class_names=list(class_names),
        y_unlabeled_true=_labels(y_unlabeled) if (y_unlabeled >= 0).all() else None,
        split={**{key: ids[idx] for key, idx in rows.items()}, **{k: np.asarray(v, dtype=np.int64) for k, v in (split or {}).items()}},
        loader_standardization=standardization,
    )


def _rows(x: Pool, rows: np.ndarray) -> np.ndarray | FileImages:
    if isinstance(x, list):
        raise TypeError("a test set cannot be carved from inputs read file by file; give the loader's test set instead")
    return x.subset(rows) if isinstance(x, FileImages) else x[rows]


def _held_out(given: HeldOut | None, x: Pool, y: np.ndarray) -> ImageSplit:
    """A loader's own validation or test set (drawn now if it is a function), else an empty one shaped like ``x``."""
    if given is None:
        empty = np.empty(0, dtype=np.int64)
        return _rows(x, empty), y[empty]
    return given() if callable(given) else given


def split_and_bundle(
    name: str,
    x: Pool,
    y: np.ndarray,
    rng: Seed,
    *,
    labels: int | str | None,
    num_classes: int,
    class_names: list[str],
    val_size: float | int | None = None,
    test_size: float | int | None = None,
    val: HeldOut | None = None,
    test: HeldOut | None = None,
    unlabeled_includes_labeled: bool = False,
    normalize: bool = False,
    split: dict[str, np.ndarray] | None = None,
    check_classes_left: bool = False,
) -> DataBundle:
    """The DataBundle of the dataset ``(x, y)`` (``y``: class ids, -1 for an unlabeled sample), split
    the one way every loader splits, with the random draws in this order from ``rng``:

    1. the test set: ``test`` when the loader has one, else ``test_size`` labeled samples carved
       (stratified) from ``(x, y)`` when set, else none (empty);
    2. the validation set likewise (``val``, else ``val_size`` carved from what the test set left);
       a fraction is of all the labeled samples of ``y`` (``splits.carve_labeled``);
    3. with ``check_classes_left`` (datasets whose classes come from the data: a user's file or
       folder), every class must keep a labeled sample in what is left, the training pool;
    4. ``labels`` labeled samples drawn class-balanced from the pool's labeled samples (``"all"``
       or None: every one of them); the pool's other samples are unlabeled;
    5. a ``val``/``test`` given as a function is called (val first): generated sets are drawn
       from ``rng`` after the labels.

    ``bundle.split`` records the samples as indices into ``x``: ``labeled``, ``unlabeled``, and
    ``val``/``test`` when carved, plus the loader's own entries in ``split``. ``normalize``
    standardises with statistics of the training pool (see ``make_bundle``). Inputs read file by
    file (``x`` a list) cannot have a test set carved.
    """
    y = np.asarray(y)
    rows = np.arange(len(y))
    test_rows = val_rows = None
    if test is None and test_size is not None:
        test_rows, rows = carve_labeled(y, test_size, rows, rng, "test_size")
    if val is None and val_size is not None:
        val_rows, train = carve_labeled(y, val_size, rows, rng, "val_size")
    else:
        train = rows
    if check_classes_left:
        check_classes(y[train], num_classes, class_names, name, " left for training after test_size/val_size")
    labeled = train[y[train] >= 0]
    if labels is not None:
        labeled = labeled[balanced_labeled_subset(y[labeled], labels, rng)]
    pool_x = x if test_rows is None else _rows(x, rows)
    val_set = np.searchsorted(rows, val_rows) if val_rows is not None else _held_out(val, pool_x, y)  # val before test
    test_set = (_rows(x, test_rows), y[test_rows]) if test_rows is not None else _held_out(test, pool_x, y)
    return make_bundle(
        name,
        pool_x,
        y[rows],
        np.searchsorted(rows, labeled),
        val_set,
        test_set,
        num_classes,
        class_names,
        unlabeled_includes_labeled=unlabeled_includes_labeled,
        normalize=normalize,
        pool_ids=None if test_rows is None else rows,
        split={**({} if test_rows is None else {"test": test_rows}), **(split or {})},
    )
