"""A user's own .npz/.csv file as a DataBundle: the file's labels, split and subsampled as the config asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semimix.data.assemble import make_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.readers import Split, UserData, check_classes, read_csv, read_npz
from semimix.data.splits import balanced_labeled_subset, resolve_count, resolve_labels, stratified_split
from semimix.errors import SemimixError

SUFFIXES = (".npz", ".csv")


def locate(dataset: str, data_dir: str | None) -> Path:
    """The file as given, else (for a relative path) inside ``data_dir``."""
    path = Path(dataset).expanduser()
    candidates = [path]
    if data_dir is not None and not path.is_absolute():
        candidates.append(Path(data_dir).expanduser() / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(candidate.absolute()) for candidate in candidates)
    raise SemimixError(f"dataset file {dataset!r} does not exist (looked at {looked}); check the path or data_dir")


def _eval_split(
    data: UserData, given: Split | None, size: float | int | None, split: str, train: np.ndarray, rng: np.random.Generator, source: str
) -> tuple[Split, np.ndarray | None, np.ndarray]:
    """The file's own split, else one carved (stratified) from the labeled training rows when ``size`` is set
    (a fraction is of all the file's labeled rows, as for test and val alike), else an empty one.
    Returns the split, the file rows carved for it (None unless carved) and the training rows left."""
    what = f"{split}_size"
    if given is not None:
        if size is not None:
            raise SemimixError(f"{source} has its own {split} set (X_{split}, y_{split}); unset {what} to use it")
        return given, None, train
    if size is None:
        return (np.empty((0, *data.x.shape[1:])), np.empty(0, dtype=np.int64)), None, train
    count = resolve_count(size, int((data.y >= 0).sum()), what)
    labeled = train[data.y[train] >= 0]
    taken = labeled[stratified_split(data.y[labeled], count, rng, what)[1]]
    return (data.x[taken], data.y[taken]), taken, np.setdiff1d(train, taken)


def load_user_file(cfg: DataConfig, seed: int) -> DataBundle:
    """Load ``cfg.dataset`` (.npz or .csv). Validation/test sets come from the file, else are carved
    from its labeled rows when ``val_size``/``test_size`` is set, else are empty.

    ``labels`` (or ``labels_per_class``) subsamples the labeled training rows class-balanced; the
    rows it leaves out join the unlabeled set (``y_unlabeled_true`` is filled only if the file has
    no unlabeled rows). ``bundle.split`` holds file row numbers: ``labeled``, ``unlabeled`` and the
    carved ``val``/``test`` rows.
    """
    path = locate(cfg.dataset, cfg.data_dir)
    data = read_npz(path) if path.suffix.lower() == ".npz" else read_csv(path, cfg.label_column)
    return bundle_user_data(data, cfg, seed, path.name)


def bundle_user_data(data: UserData, cfg: DataConfig, seed: int, source: str) -> DataBundle:
    """Split checked ``data`` (from a file, or arrays handed to the scikit-learn estimator) as
    ``load_user_file`` describes; ``source`` names it in the bundle and in error messages."""
    rng = np.random.default_rng(seed)
    train = np.arange(len(data.y))
    test, test_rows, train = _eval_split(data, data.test, cfg.test_size, "test", train, rng, source)
    val, val_rows, train = _eval_split(data, data.val, cfg.val_size, "val", train, rng, source)
    y_train = data.y[train]
    check_classes(y_train, data.num_classes, data.class_names, source, " left for training after test_size/val_size")
    labeled = np.flatnonzero(y_train >= 0)
    labels = resolve_labels(cfg.labels, cfg.labels_per_class, data.num_classes, None)
    if labels is not None:
        labeled = labeled[balanced_labeled_subset(y_train[labeled], labels, rng)]
    carved = {name: rows for name, rows in (("val", val_rows), ("test", test_rows)) if rows is not None}
    return make_bundle(
        source,
        data.x[train],
        y_train,
        labeled,
        val,
        test,
        num_classes=data.num_classes,
        class_names=data.class_names,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        normalize=cfg.normalize,
        pool_ids=train,
        split=carved,
    )
