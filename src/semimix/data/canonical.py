"""The image benchmarks (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN) read from their official
files and split; which files, where, and the benchmarks' defaults are in ``semimix.data.benchmarks``.

Split, as in the SSL papers: a stratified, seeded validation set is carved from the official
training set (ICT/VAT/Oliver et al. sizes: 5000 for CIFAR-10/100, 1000 for SVHN; 5000 for the
MNISTs, semimix's choice), then ``labels`` class-balanced labeled images are drawn from the rest
(defaults 4000 CIFAR-10, 10000 CIFAR-100, 1000 SVHN, 100 MNIST/Fashion-MNIST); the remaining
images are unlabeled and the official test set is the test set. ``bundle.split`` holds the
indices into the official training set (SVHN with ``svhn_extra``: train, then extra).

Images stay uint8 (N, C, H, W) in memory (CIFAR-10: 184 MB); ``bundle.preprocess`` normalises
each float batch on the device (see ``semimix.data.preprocess``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from semimix.data.assemble import split_and_bundle
from semimix.data.benchmarks import CIFAR10_TRAIN, SVHN_EXTRA, Benchmark, locate
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.preprocess import build_preprocess, check_preprocess
from semimix.data.readers.checks import class_ids, damaged
from semimix.data.readers.cifar import read_batch, read_names
from semimix.data.readers.idx import read_idx
from semimix.data.readers.svhn import read_labels, read_mat
from semimix.data.splits import check_enough_labels
from semimix.errors import SemimixError

FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_NAMES = [str(d) for d in range(10)]


@dataclass
class Official:
    """A benchmark's official sets as read from its files: the training labels, functions that
    read the training images file by file (called once each, while the split is copied out, so
    only one file's images are decoded at a time), the test set and the class names."""

    train_y: np.ndarray
    train_x: list[Callable[[], np.ndarray]]
    test: tuple[np.ndarray, np.ndarray]
    class_names: list[str]


def _idx_labels(files: dict[str, Path], prefix: str, num_classes: int) -> np.ndarray:
    path = files[f"{prefix}-labels-idx1-ubyte"]
    return class_ids(read_idx(path, 1), 0, num_classes - 1, path, "the file")


def _idx_images(files: dict[str, Path], prefix: str, count: int) -> np.ndarray:
    """(N, 1, 28, 28) images, checked against the ``count`` labels of the matching labels file."""
    path = files[f"{prefix}-images-idx3-ubyte"]
    images = read_idx(path, 3)
    if images.shape[1:] != (28, 28):
        raise damaged(path, f"holds images of shape {images.shape[1:]}, expected 28x28")
    if len(images) != count:
        raise damaged(path, f"holds {len(images)} images but {prefix}-labels-idx1-ubyte holds {count} labels")
    return images[:, None]


def _read_mnist_like(class_names: list[str], files: dict[str, Path]) -> Official:
    y_train, y_test = (_idx_labels(files, prefix, len(class_names)) for prefix in ("train", "t10k"))
    return Official(y_train, [partial(_idx_images, files, "train", len(y_train))], (_idx_images(files, "t10k", len(y_test)), y_test), class_names)


def _batch_images(path: Path, label_key: str, num_classes: int) -> np.ndarray:
    return read_batch(path, label_key, num_classes)[0]


def _read_cifar(train: tuple[str, ...], test: str, meta: str, label_key: str, names_key: str, num_classes: int, files: dict[str, Path]) -> Official:
    """Labels first (decoding each batch and dropping its images), images later file by file: a
    second decode costs a fraction of a second and keeps peak memory near one copy of the set."""
    return Official(
        np.concatenate([read_batch(files[name], label_key, num_classes)[1] for name in train]),
        [partial(_batch_images, files[name], label_key, num_classes) for name in train],
        read_batch(files[test], label_key, num_classes),
        read_names(files[meta], names_key, num_classes),
    )


def _svhn_images(path: Path) -> np.ndarray:
    return read_mat(path)[0]


def _read_svhn(files: dict[str, Path]) -> Official:
    train = [files[name] for name in ("train_32x32.mat", SVHN_EXTRA) if name in files]
    x_test, y_test = read_mat(files["test_32x32.mat"])
    return Official(
        np.concatenate([read_labels(path) for path in train]),
        [partial(_svhn_images, path) for path in train],
        (np.ascontiguousarray(x_test), y_test),
        DIGIT_NAMES,
    )


# How to read each benchmark's files (found by ``benchmarks.locate``), by its name
READERS: dict[str, Callable[[dict[str, Path]], Official]] = {
    "mnist": partial(_read_mnist_like, DIGIT_NAMES),
    "fashion-mnist": partial(_read_mnist_like, FASHION_NAMES),
    "cifar10": partial(_read_cifar, CIFAR10_TRAIN, "test_batch", "batches.meta", "labels", "label_names", 10),
    "cifar100": partial(_read_cifar, ("train",), "test", "meta", "fine_labels", "fine_label_names", 100),
    "svhn": _read_svhn,
}


def load_benchmark(spec: Benchmark, cfg: DataConfig, seed: int) -> DataBundle:
    """The bundle of ``spec``: uint8 images split as in the module docstring, with ``preprocess``
    fitted on the training pool. Settings are checked before any file is read."""
    if cfg.test_size is not None:
        raise SemimixError(f"{spec.name} is tested on its official test set; unset test_size (val_size sets the validation split)")
    kind = cfg.preprocess if cfg.preprocess is not None else (spec.preprocess if cfg.normalize else "none")
    check_preprocess(kind, cfg.zca_epsilon)
    labels = spec.labels if cfg.labels is None else cfg.labels
    check_enough_labels(labels, spec.num_classes)
    data = READERS[spec.name](locate(spec, cfg.data_dir, (SVHN_EXTRA,) if cfg.svhn_extra else ()))
    bundle = split_and_bundle(
        spec.name,
        data.train_x,
        data.train_y,
        np.random.default_rng(seed),
        labels=labels,
        num_classes=spec.num_classes,
        class_names=data.class_names,
        val_size=spec.val_size if cfg.val_size is None else cfg.val_size,
        test=data.test,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
    )
    pool_parts = [bundle.x_unlabeled] if cfg.unlabeled_includes_labeled else [bundle.x_labeled, bundle.x_unlabeled]
    bundle.preprocess = build_preprocess(kind, pool_parts, cfg.zca_epsilon, cfg.zca_quirk)
    return bundle
