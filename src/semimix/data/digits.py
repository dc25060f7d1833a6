"""scikit-learn's handwritten digits: real 8x8 images that ship with sklearn, so no download is needed."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from semimix.data.assemble import make_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.splits import balanced_labeled_subset, resolve_count, stratified_split

DEFAULT_TEST_SIZE = 0.2
DEFAULT_VAL_SIZE = 0.1  # of the whole dataset, ~180 images
DEFAULT_LABELS = 100  # 10 per class


def load(cfg: DataConfig, seed: int) -> DataBundle:
    """1797 images of shape (1, 8, 8), pixels scaled to [0, 1], 10 classes.

    Seeded stratified test split, then a stratified validation split from the rest (a fraction
    ``val_size`` is of the whole dataset, so changing the test size does not shrink it), then
    ``labels`` class-balanced labeled images from the remaining training pool; the rest of the
    pool is unlabeled, with its true labels kept in ``y_unlabeled_true``. ``bundle.split`` holds
    every split as indices into sklearn's 1797 images.
    """
    rng = np.random.default_rng(seed)
    digits = load_digits()
    x = (digits.images / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    test_size = DEFAULT_TEST_SIZE if cfg.test_size is None else cfg.test_size
    val_count = resolve_count(DEFAULT_VAL_SIZE if cfg.val_size is None else cfg.val_size, len(y), "val_size")
    rest, test = stratified_split(y, test_size, rng, "test_size")
    train, val = (rest[i] for i in stratified_split(y[rest], val_count, rng, "val_size"))
    labels = DEFAULT_LABELS if cfg.labels is None else cfg.labels
    return make_bundle(
        "digits",
        x[train],
        y[train],
        balanced_labeled_subset(y[train], labels, rng),
        (x[val], y[val]),
        (x[test], y[test]),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        normalize=cfg.normalize,
        pool_ids=train,
        split={"val": val, "test": test},
    )
