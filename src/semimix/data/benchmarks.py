"""The image benchmarks (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN): their facts, paper-standard
defaults and where their official files live, found without reading them (``semimix.data.canonical``
reads and splits them).

Nothing is ever downloaded: the files must already be under ``data_dir`` in the layout their
official sites ship (``<data_dir>/mnist/*.gz``, ``<data_dir>/cifar-10-batches-py/``, ...);
torchvision's layouts (``MNIST/raw/``, SVHN's .mat files directly in the root) are accepted too.

This module imports neither numpy nor torch, so ``semimix datasets`` can say which benchmarks are
found without loading them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semimix.errors import SemimixError

SVHN_EXTRA = "extra_32x32.mat"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark's files are and its paper-standard defaults (``semimix.data.canonical`` reads them)."""

    name: str
    description: str
    source: str  # what to put where, for the "not found" message
    folders: tuple[str, ...]  # under data_dir, the official layout first
    files: tuple[str, ...]
    num_classes: int
    labels: int
    val_size: int
    preprocess: str
    suffixes: tuple[str, ...] = ("",)  # accepted endings of each file name, in order of preference
    aliases: tuple[str, ...] = ()


BENCHMARKS = (
    Benchmark(
        name="mnist",
        description="28x28 grey handwritten digits, 10 classes, 60000 train + 10000 test",
        source="the four IDX files from yann.lecun.com",
        folders=("mnist", "MNIST/raw"),
        files=IDX_FILES,
        suffixes=(".gz", ""),
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
