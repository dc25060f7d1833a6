"""Datasets by name: the built-in ones (digits and two 2-D toys) or the path of a user's .npz/.csv file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from semimix.data import digits, toys
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.userfile import SUFFIXES, load_user_file
from semimix.errors import SemimixError


@dataclass(frozen=True)
class DatasetEntry:
    """A built-in dataset: how to load it and where its data comes from (for ``list_datasets``)."""

    name: str
    description: str
    where: str
    load: Callable[[DataConfig, int], DataBundle]
    aliases: tuple[str, ...] = ()


_REGISTRY = (
    DatasetEntry("digits", "8x8 handwritten digit images, 10 classes, 1797 samples", "bundled with scikit-learn", digits.load),
    DatasetEntry("two-circles", "two noisy concentric circles, 2 classes (AdvMixup case study)", "generated", toys.load_circles, ("circles",)),
    DatasetEntry("two-moons", "two interleaving moons, 2 classes", "generated", toys.load_moons, ("moons",)),
)
DATASET_NAMES = tuple(entry.name for entry in _REGISTRY)
_BY_NAME = {name: entry for entry in _REGISTRY for name in (entry.name, *entry.aliases)}


def _valid_choices() -> str:
    names = [entry.name + (f" (alias {', '.join(entry.aliases)})" if entry.aliases else "") for entry in _REGISTRY]
    return f"choose one of {', '.join(names)}, or give the path of a .npz or .csv file"


def load_dataset(cfg: DataConfig, seed: int) -> DataBundle:
    """The DataBundle for ``cfg.dataset`` (a registered name or alias, or a .npz/.csv path), split with ``seed``."""
    name = cfg.dataset
    if not isinstance(name, str) or not name.strip():
        raise SemimixError(f"dataset is not set (got {name!r}); {_valid_choices()}")
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        return load_user_file(cfg, seed)
    entry = _BY_NAME.get(name.strip().lower())
    if entry is not None:
        return entry.load(cfg, seed)
    if suffix:
        raise SemimixError(f"dataset {name!r}: unsupported file type {suffix!r}; convert it to .npz or .csv")
    raise SemimixError(f"unknown dataset {name!r}; {_valid_choices()}")


def list_datasets(data_dir: str | None) -> list[dict]:
    """Every dataset ``load_dataset`` can open: the built-ins, then the .npz/.csv files in ``data_dir``."""
    entries = [
        {"name": entry.name, "description": entry.description, "found": True, "where": entry.where}
        for entry in _REGISTRY
    ]
    if data_dir is None:
        return entries
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise SemimixError(f"data_dir {str(folder.absolute())!r} is not a directory; create it or fix the path")
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in SUFFIXES)
    return entries + [
        {"name": path.name, "description": f"your {path.suffix.lower()} file", "found": True, "where": str(path.absolute())}
        for path in files
    ]


__all__ = ["DATASET_NAMES", "DataBundle", "DataConfig", "list_datasets", "load_dataset"]
