"""A user's own .npz/.csv file as a DataBundle: the file's labels, split and subsampled as the config asks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semimix.data.assemble import split_and_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.readers.userfile import UserData, read_csv, read_npz
from semimix.data.splits import resolve_labels
from semimix.errors import SemimixError


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
    for split, given, size in (("test", data.test, cfg.test_size), ("val", data.val, cfg.val_size)):
        if given is not None and size is not None:
            raise SemimixError(f"{source} has its own {split} set (X_{split}, y_{split}); unset {split}_size to use it")
    bundle = split_and_bundle(
        source,
        data.x,
        data.y,
        np.random.default_rng(seed),
        labels=resolve_labels(cfg.labels, cfg.labels_per_class, data.num_classes, None),
        num_classes=data.num_classes,
        class_names=data.class_names,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        test=data.test,
        val=data.val,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        check_classes_left=True,
        normalize=cfg.normalize,
    )
    bundle.pixel_range = data.pixel_range
    return bundle
