"""The datasets semimix knows by name: for each its description, where its data comes from, its
aliases, number of classes and loader; and ``list_datasets``, what ``semimix datasets`` prints.

This module imports neither torch nor numpy, scipy or scikit-learn: a loader is named
(``"module:function"``) and imported on first use (``DatasetInfo.load``), so listing the datasets
or looking one up is instant. Besides the names below, ``load_dataset`` opens a user's .npz/.csv
file (``USER_FILE_SUFFIXES``) or image folder (``IMAGE_FOLDER``) given by its path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from semimix.data.benchmarks import BENCHMARKS, Benchmark, status
from semimix.errors import SemimixError

if TYPE_CHECKING:
    from semimix.data.bundle import DataBundle
    from semimix.data.config import DataConfig

USER_FILE_SUFFIXES = (".npz", ".csv")


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset ``load_dataset`` knows by name (or alias, any case): what it is and how to load it.

    ``loader`` names the function ``(cfg, seed) -> DataBundle`` as ``"module:function"``;
    ``benchmark`` (the image benchmarks) is the loader's first argument and says where the files
    live. ``num_classes`` (when fixed) lets ``load_dataset`` turn ``labels_per_class`` into
    ``labels`` for the loader; a loader without it must call ``splits.resolve_labels`` itself.
    ``preprocess``: the loader honours ``cfg.preprocess``.
    """

    name: str
    description: str
    where: str
    loader: str
    aliases: tuple[str, ...] = ()
    num_classes: int | None = None
    benchmark: Benchmark | None = None
    preprocess: bool = False

    @property
    def load(self) -> Callable[[DataConfig, int], DataBundle]:
        """The loader, imported now (with its module's heavy dependencies)."""
        module, _, function = self.loader.partition(":")
        load = getattr(importlib.import_module(module), function)
        return partial(load, self.benchmark) if self.benchmark is not None else load

    def status(self, data_dir: str | None) -> tuple[bool, str]:
        """(found, where): for a benchmark whether its files are under ``data_dir`` and where they
        were found or looked for; the other datasets are always there."""
        return status(self.benchmark, data_dir) if self.benchmark is not None else (True, self.where)


_DATASETS = (
    DatasetInfo("digits", "8x8 handwritten digit images, 10 classes, 1797 samples", "bundled with scikit-learn", "semimix.data.digits:load", num_classes=10),
    DatasetInfo(
        "two-circles",
        "two noisy concentric circles, 2 classes (AdvMixup case study)",
        "generated",
        "semimix.data.toys:load_circles",
        ("circles",),
        num_classes=2,
    ),
    DatasetInfo(
        "two-circles-spread",
        "two-circles with each ring's labels evenly spaced round it",
        "generated",
        "semimix.data.toys:load_circles_spread_labels",
        num_classes=2,
    ),
    DatasetInfo("two-moons", "two interleaving moons, 2 classes", "generated", "semimix.data.toys:load_moons", ("moons",), num_classes=2),
    DatasetInfo(
        "two-spirals",
        "two interleaved spirals, 2 classes (Manifold Mixup toy)",
        "generated",
        "semimix.data.toys:load_spirals",
        ("spirals",),
        num_classes=2,
    ),
    DatasetInfo(
        "mnist1d",
        "MNIST-1D: 1-D digit signals of length 40, 10 classes, 4000 train + 1000 test",
        "generated (the benchmark's default settings and seed 42)",
        "semimix.data.mnist1d:load",
        ("mnist-1d",),
        num_classes=10,
    ),
    *(
        DatasetInfo(
            spec.name,
            spec.description,
            f"<data_dir>/{spec.folders[0]}/",
            "semimix.data.canonical:load_benchmark",
            spec.aliases,
            num_classes=spec.num_classes,
            benchmark=spec,
            preprocess=True,
        )
        for spec in BENCHMARKS
    ),
)
DATASET_NAMES = tuple(info.name for info in _DATASETS)
# Every name and alias (lower case) → its dataset
_BY_NAME = {name: info for info in _DATASETS for name in (info.name, *info.aliases)}
IMAGE_FOLDER = DatasetInfo(
    "an image folder",
    "your image folder: one sub-folder of images per class, optional unlabeled/ sub-folder",
    "a directory path (as given, or inside data_dir)",
    "semimix.data.imagefolder:load",
    preprocess=True,
)


def known_datasets() -> tuple[DatasetInfo, ...]:
    """Every dataset known by name, in the order ``semimix datasets`` lists them."""
    return _DATASETS


def find_dataset(name: str) -> DatasetInfo | None:
    """The dataset called ``name`` (or one of its aliases; case and surrounding blanks do not
    matter), or None when no dataset has that name (it may be a file's or folder's path)."""
    return _BY_NAME.get(name.strip().lower())


def valid_choices() -> str:
    """What ``dataset`` may be, for error messages."""
    names = [info.name + (f" (alias {', '.join(info.aliases)})" if info.aliases else "") for info in _DATASETS]
    return f"choose one of {', '.join(names)}, or give the path of a .npz or .csv file, or of an image folder"


def list_datasets(data_dir: str | None) -> list[dict]:
    """Every dataset ``load_dataset`` can open: the built-ins (for the benchmarks, whether their files
    are under ``data_dir`` and where they were found or looked for), then the .npz/.csv files in ``data_dir``."""
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise SemimixError(f"data_dir {str(folder.absolute())!r} is not a directory; create it or fix the path")
    entries = []
    for info in _DATASETS:
        found, where = info.status(data_dir)
        entries.append({"name": info.name, "description": info.description, "found": found, "where": where})
    if folder is None:
        return entries
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in USER_FILE_SUFFIXES)
    return entries + [{"name": path.name, "description": f"your {path.suffix.lower()} file", "found": True, "where": str(path.absolute())} for path in files]
