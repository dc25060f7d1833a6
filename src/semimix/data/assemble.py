"""Turn numpy arrays of a training pool plus validation/test sets into a DataBundle.

Every loader ends here, so the labeled/unlabeled bookkeeping, normalisation and tensor dtypes
are the same for built-in and user datasets.
"""

from __future__ import annotations

import numpy as np
import torch

from semimix.data.bundle import DataBundle


def standardize_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the training inputs: per channel for (N, C, H, W) images, else per feature.

    A constant feature gets std 1, so it maps to 0 instead of dividing by zero.
    """
    axes = (0, 2, 3) if x_train.ndim == 4 else (0,)
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True)
    return mean, np.where(std > 0, std, 1.0)


def _inputs(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def make_bundle(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    labeled_idx: np.ndarray,
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    class_names: list[str],
    *,
    unlabeled_includes_labeled: bool,
    normalize: bool,
) -> DataBundle:
    """Split the training pool into labeled (``labeled_idx``) and unlabeled (the rest) samples.

    ``y_train`` holds true labels where known and -1 elsewhere; ``y_unlabeled_true`` is filled
    only when every unlabeled sample's label is known. Normalisation statistics come from the
    whole training pool (labeled and unlabeled), never from validation or test data.
    """
    unlabeled = np.ones(len(x_train), dtype=bool)
    unlabeled[labeled_idx] = False
    unlabeled_idx = np.flatnonzero(unlabeled)
    if unlabeled_includes_labeled:
        unlabeled_idx = np.concatenate([unlabeled_idx, labeled_idx])
    (x_val, y_val), (x_test, y_test) = val, test
    if normalize:
        mean, std = standardize_stats(x_train.astype(np.float64))
        x_train, x_val, x_test = ((x - mean) / std for x in (x_train, x_val, x_test))
    y_unlabeled = y_train[unlabeled_idx]
    return DataBundle(
        name=name,
        x_labeled=_inputs(x_train[labeled_idx]),
        y_labeled=_labels(y_train[labeled_idx]),
        x_unlabeled=_inputs(x_train[unlabeled_idx]),
        x_val=_inputs(x_val),
        y_val=_labels(y_val),
        x_test=_inputs(x_test),
        y_test=_labels(y_test),
        num_classes=num_classes,
        class_names=list(class_names),
        y_unlabeled_true=_labels(y_unlabeled) if (y_unlabeled >= 0).all() else None,
    )
