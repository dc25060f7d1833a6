"""scikit-learn's handwritten digits: real 8x8 images that ship with sklearn, so no download is needed."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from semimix.data.assemble import split_and_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig

DEFAULT_TEST_SIZE = 0.2
DEFAULT_VAL_SIZE = 0.1  # of the whole dataset, ~180 images
DEFAULT_LABELS = 100  # 10 per class


def load(cfg: DataConfig, seed: int) -> DataBundle:
    """1797 images of shape (1, 8, 8), pixels scaled to [0, 1] (recorded as the bundle's ``pixel_range``), 10 classes.

    Seeded stratified test split, then a stratified validation split from the rest (a fraction
    ``val_size`` is of the whole dataset, so changing the test size does not shrink it), then
    ``labels`` class-balanced labeled images from the remaining training pool; the rest of the
    pool is unlabeled, with its true labels kept in ``y_unlabeled_true``. ``bundle.split`` holds
    every split as indices into sklearn's 1797 images.
    """
    digits = load_digits()
    bundle = split_and_bundle(
        "digits",
        (digits.images / 16.0)[:, None, :, :],
        digits.target.astype(np.int64),
        np.random.default_rng(seed),
        labels=DEFAULT_LABELS if cfg.labels is None else cfg.labels,
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        test_size=DEFAULT_TEST_SIZE if cfg.test_size is None else cfg.test_size,
        val_size=DEFAULT_VAL_SIZE if cfg.val_size is None else cfg.val_size,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        normalize=cfg.normalize,
    )
    bundle.pixel_range = (0.0, 1.0)  # black..white: the strong view's RandAugment works on these levels
    return bundle
