"""The image benchmarks (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN), read from their official files.

Nothing is ever downloaded: the files must already be under ``data_dir`` in the layout their
official sites ship (``<data_dir>/mnist/*.gz``, ``<data_dir>/cifar-10-batches-py/``, ...);
torchvision's layouts (``MNIST/raw/``, SVHN's .mat files directly in the root) are accepted too.

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

from semimix.data.assemble import make_bundle
from semimix.data.bundle import DataBundle
from semimix.data.cifar import read_batch, read_names
from semimix.data.config import DataConfig
from semimix.data.idx import read_idx
from semimix.data.preprocess import build_preprocess, check_preprocess
from semimix.data.readers import class_ids, damaged
from semimix.data.splits import balanced_labeled_subset, check_enough_labels, resolve_count, stratified_split
from semimix.data.svhn import read_labels, read_mat
from semimix.errors import SemimixError

SVHN_EXTRA = "extra_32x32.mat"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
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


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark's files are, how to read them, and its paper-standard defaults."""

    name: str
    description: str
    source: str  # what to put where, for the "not found" message
    folders: tuple[str, ...]  # under data_dir, the official layout first
    files: tuple[str, ...]
    read: Callable[[dict[str, Path]], Official]
    num_classes: int
    labels: int
    val_size: int
    preprocess: str
    suffixes: tuple[str, ...] = ("",)  # accepted endings of each file name, in order of preference
    aliases: tuple[str, ...] = ()


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


BENCHMARKS = (
    Benchmark(
        name="mnist",
        description="28x28 grey handwritten digits, 10 classes, 60000 train + 10000 test",
        source="the four IDX files from yann.lecun.com",
        folders=("mnist", "MNIST/raw"),
        files=IDX_FILES,
        suffixes=(".gz", ""),
        read=partial(_read_mnist_like, DIGIT_NAMES),
        num_classes=10,
        labels=100,
        val_size=5000,
        preprocess="standardize",
    ),
    Benchmark(
        name="fashion-mnist",
        description="28x28 grey clothing images, 10 classes, 60000 train + 10000 test",
        source="the four IDX files from github.com/zalandoresearch/fashion-mnist",
        folders=("fashion-mnist", "FashionMNIST/raw"),
        files=IDX_FILES,
        suffixes=(".gz", ""),
        read=partial(_read_mnist_like, FASHION_NAMES),
        num_classes=10,
        labels=100,
        val_size=5000,
        preprocess="standardize",
        aliases=("fashion", "fashionmnist"),
    ),
    Benchmark(
        name="cifar10",
        description="32x32 colour images, 10 classes, 50000 train + 10000 test",
        source="the extracted 'CIFAR-10 python version' from cs.toronto.edu/~kriz/cifar.html",
        folders=("cifar-10-batches-py",),
        files=(*CIFAR10_TRAIN, "test_batch", "batches.meta"),
        read=partial(_read_cifar, CIFAR10_TRAIN, "test_batch", "batches.meta", "labels", "label_names", 10),
        num_classes=10,
        labels=4000,
        val_size=5000,
        preprocess="zca",
        aliases=("cifar-10",),
    ),
    Benchmark(
        name="cifar100",
        description="32x32 colour images, 100 classes (fine labels), 50000 train + 10000 test",
        source="the extracted 'CIFAR-100 python version' from cs.toronto.edu/~kriz/cifar.html",
        folders=("cifar-100-python",),
        files=("train", "test", "meta"),
        read=partial(_read_cifar, ("train",), "test", "meta", "fine_labels", "fine_label_names", 100),
        num_classes=100,
        labels=10000,
        val_size=5000,
        preprocess="standardize",
        aliases=("cifar-100",),
    ),
    Benchmark(
        name="svhn",
        description="32x32 colour house-number digits, 10 classes, 73257 train + 26032 test (+531131 extra)",
        source="train_32x32.mat and test_32x32.mat (and extra_32x32.mat for svhn_extra) from ufldl.stanford.edu/housenumbers",
        folders=("svhn", "."),
        files=("train_32x32.mat", "test_32x32.mat"),
        read=_read_svhn,
        num_classes=10,
        labels=1000,
        val_size=1000,
        preprocess="standardize",
    ),
)


def _root(spec: Benchmark, data_dir: str | None) -> Path:
    where = f"the folder that holds {spec.folders[0]}/ ({spec.source})"
    if data_dir is None:
        raise SemimixError(f"{spec.name} is read from its official files, but data_dir is not set; set --data-dir to {where} (nothing is downloaded)")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise SemimixError(f"data_dir {str(root.absolute())!r} is not a directory; set --data-dir to {where}")
    return root


def _find(folder: Path, name: str, suffixes: tuple[str, ...]) -> Path | None:
    candidates = [folder / (name + suffix) for suffix in suffixes]
    return next((path for path in candidates if path.is_file()), None)


def locate(spec: Benchmark, data_dir: str | None, extra: tuple[str, ...] = ()) -> dict[str, Path]:
    """The path of each of the benchmark's files (plus ``extra``), from the first folder holding all of them."""
    root = _root(spec, data_dir)
    names = (*spec.files, *extra)
    partial_folders = []
    for folder in spec.folders:
        found = {name: _find(root / folder, name, spec.suffixes) for name in names}
        if all(found.values()):
            return found  # type: ignore[return-value]
        if any(found.values()):
            partial_folders.append(f"{(root / folder).absolute()} lacks {', '.join(n for n, p in found.items() if p is None)}")
    expected = ", ".join(name + spec.suffixes[0] for name in names) + (" (gzip-compressed or not)" if len(spec.suffixes) > 1 else "")
    others = [str((root / folder).absolute()) for folder in spec.folders[1:]]
    raise SemimixError(
        f"{spec.name} not found: "
        + (f"{'; '.join(partial_folders)}; " if partial_folders else "")
        + f"expected {(root / spec.folders[0]).absolute()}/ holding {expected}, {spec.source}"
        + (f" (also looked in {', '.join(others)})" if others else "")
        + f"; semimix never downloads data, so put the files there or point --data-dir at the folder that holds {spec.folders[0]}/"
    )


def status(spec: Benchmark, data_dir: str | None) -> tuple[bool, str]:
    """(found, where): the folder holding the files, or where they were looked for (for ``list_datasets``)."""
    if data_dir is None:
        return False, f"needs --data-dir (<data_dir>/{spec.folders[0]}/)"
    try:
        files = locate(spec, data_dir)
    except SemimixError:
        return False, "looked in " + ", ".join(str((Path(data_dir).expanduser() / f).absolute()) for f in spec.folders)
    return True, str(next(iter(files.values())).parent.absolute())


def load_benchmark(spec: Benchmark, cfg: DataConfig, seed: int) -> DataBundle:
    """The bundle of ``spec``: uint8 images split as in the module docstring, with ``preprocess``
    fitted on the training pool. Settings are checked before any file is read."""
    if cfg.test_size is not None:
        raise SemimixError(f"{spec.name} is tested on its official test set; unset test_size (val_size sets the validation split)")
    kind = cfg.preprocess if cfg.preprocess is not None else (spec.preprocess if cfg.normalize else "none")
    check_preprocess(kind, cfg.zca_epsilon)
    labels = spec.labels if cfg.labels is None else cfg.labels
    check_enough_labels(labels, spec.num_classes)
    data = spec.read(locate(spec, cfg.data_dir, (SVHN_EXTRA,) if cfg.svhn_extra else ()))
    rng = np.random.default_rng(seed)
    val_count = resolve_count(spec.val_size if cfg.val_size is None else cfg.val_size, len(data.train_y), "val_size")
    pool, val = stratified_split(data.train_y, val_count, rng, "val_size")
    labeled = pool[balanced_labeled_subset(data.train_y[pool], labels, rng)]
    bundle = make_bundle(
        spec.name,
        data.train_x,
        data.train_y,
        labeled,
        val,
        data.test,
        spec.num_classes,
        data.class_names,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
    )
    pool_parts = [bundle.x_unlabeled] if cfg.unlabeled_includes_labeled else [bundle.x_labeled, bundle.x_unlabeled]
    bundle.preprocess = build_preprocess(kind, pool_parts, cfg.zca_epsilon, cfg.zca_quirk)
    return bundle
