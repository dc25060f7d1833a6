"""Datasets by name: the built-ins (digits, 2-D toys, MNIST-1D), the image benchmarks read from their
official files under ``data_dir`` (mnist, fashion-mnist, cifar10, cifar100, svhn), or the path of a
user's .npz/.csv file or image folder.

    registry      the datasets known by name (``find_dataset``, ``known_datasets``, ``list_datasets``)
    load          ``load_dataset``: a config's dataset as a split DataBundle
    assemble      the one recipe of every loader (``split_and_bundle``) and ``make_bundle``
    splits        seeded, class-balanced index splits
    readers/      the file formats: IDX, CIFAR pickles, SVHN .mat, .npz/.csv, image folders
    digits, toys, mnist1d, canonical (the benchmarks; ``benchmarks`` says where their files live),
    userfile, imagefolder: the loaders
    bundle, config, preprocess, augment, streaming: what a run trains on and how it is fed

The names below are imported from their modules on first use, not by ``import semimix.data``, so
that listing the datasets (``semimix datasets``) needs neither torch nor numpy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from semimix.data.bundle import DataBundle
    from semimix.data.config import DataConfig
    from semimix.data.load import load_dataset
    from semimix.data.registry import DATASET_NAMES, DatasetInfo, find_dataset, known_datasets, list_datasets

__all__ = ["DATASET_NAMES", "DataBundle", "DataConfig", "DatasetInfo", "find_dataset", "known_datasets", "list_datasets", "load_dataset"]
_HOMES = {  # where the names of __all__ are defined
    "DATASET_NAMES": "registry",
    "DatasetInfo": "registry",
    "find_dataset": "registry",
    "known_datasets": "registry",
    "list_datasets": "registry",
    "DataBundle": "bundle",
    "DataConfig": "config",
    "load_dataset": "load",
}


def __getattr__(name: str) -> object:
    """``semimix.data.load_dataset`` and the other names of ``__all__``, imported on first use."""
    if name in _HOMES:
        value = getattr(importlib.import_module(f"semimix.data.{_HOMES[name]}"), name)
        globals()[name] = value  # later look-ups find it without this function
        return value
    raise AttributeError(f"module 'semimix.data' has no attribute {name!r}")
