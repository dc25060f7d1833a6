"""Datasets by name: the built-ins (digits, 2-D toys), the image benchmarks read from their official
files under ``data_dir`` (mnist, fashion-mnist, cifar10, cifar100, svhn), or the path of a user's
.npz/.csv file or image folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from semimix.data import canonical, digits, imagefolder, mnist1d, toys
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.splits import resolve_labels
from semimix.data.userfile import SUFFIXES, load_user_file
from semimix.errors import SemimixError


@dataclass(frozen=True)
class DatasetEntry:
    """A built-in dataset: how to load it and where its data comes from (for ``list_datasets``).

    ``num_classes`` (when fixed) lets ``load_dataset`` turn ``labels_per_class`` into ``labels``
    for the loader; a loader without it must call ``splits.resolve_labels`` itself. ``status``
    reports (found, where) for a ``data_dir`` when the data may be missing. ``preprocess``: the
    loader honours ``cfg.preprocess``.
    """

    name: str
    description: str
    where: str
    load: Callable[[DataConfig, int], DataBundle]
    aliases: tuple[str, ...] = ()
    num_classes: int | None = None
    status: Callable[[str | None], tuple[bool, str]] | None = None
    preprocess: bool = False


_REGISTRY = (
    DatasetEntry("digits", "8x8 handwritten digit images, 10 classes, 1797 samples", "bundled with scikit-learn", digits.load, num_classes=10),
    DatasetEntry("two-circles", "two noisy concentric circles, 2 classes (AdvMixup case study)", "generated", toys.load_circles, ("circles",), num_classes=2),
    DatasetEntry(
        toys.CIRCLES_SPREAD_NAME,
        "two-circles with each ring's labels evenly spaced round it",
        "generated",
        toys.load_circles_spread_labels,
        num_classes=2,
    ),
    DatasetEntry("two-moons", "two interleaving moons, 2 classes", "generated", toys.load_moons, ("moons",), num_classes=2),
    DatasetEntry(toys.SPIRALS_NAME, toys.SPIRALS_DESCRIPTION, toys.SPIRALS_WHERE, toys.load_spirals, toys.SPIRALS_ALIASES, num_classes=2),
    DatasetEntry(mnist1d.NAME, mnist1d.DESCRIPTION, mnist1d.WHERE, mnist1d.load, mnist1d.ALIASES, num_classes=10),
    *(
        DatasetEntry(
            spec.name,
            spec.description,
            f"<data_dir>/{spec.folders[0]}/",
            partial(canonical.load_benchmark, spec),
            spec.aliases,
            num_classes=spec.num_classes,
            status=partial(canonical.status, spec),
            preprocess=True,
        )
        for spec in canonical.BENCHMARKS
    ),
)
DATASET_NAMES = tuple(entry.name for entry in _REGISTRY)
_BY_NAME = {name: entry for entry in _REGISTRY for name in (entry.name, *entry.aliases)}
_IMAGE_FOLDER = DatasetEntry("an image folder", imagefolder.DESCRIPTION, imagefolder.WHERE, imagefolder.load, preprocess=True)


def _valid_choices() -> str:
    names = [entry.name + (f" (alias {', '.join(entry.aliases)})" if entry.aliases else "") for entry in _REGISTRY]
    return f"choose one of {', '.join(names)}, or give the path of a .npz or .csv file, or of an image folder"


def _check_options(cfg: DataConfig, entry: DatasetEntry | None) -> None:
    """Settings that would be silently ignored by this dataset are errors instead."""
    name = entry.name if entry is not None else "a user file"
    if cfg.preprocess is not None and (entry is None or not entry.preprocess):
        raise SemimixError(
            f"preprocess={cfg.preprocess!r} applies to the image benchmarks only, not {name}; unset it (normalize=true/false standardises this dataset or not)"
        )
    if cfg.svhn_extra and (entry is None or entry.name != "svhn"):
        raise SemimixError(f"svhn_extra=true applies to the svhn dataset only, not {name}; unset it")
    if cfg.stream is not None and entry is not _IMAGE_FOLDER:
        raise SemimixError(f"stream={cfg.stream} applies to image folders only, not {name}; unset it (other datasets live in memory)")


def load_dataset(cfg: DataConfig, seed: int) -> DataBundle:
    """The DataBundle for ``cfg.dataset`` (a registered name or alias, or a .npz/.csv path), split with ``seed``."""
    name = cfg.dataset
    if not isinstance(name, str) or not name.strip():
        raise SemimixError(f"dataset is not set (got {name!r}); {_valid_choices()}")
    suffix = Path(name).suffix.lower()
    if suffix in SUFFIXES:
        _check_options(cfg, None)
        return load_user_file(cfg, seed)
    entry = _BY_NAME.get(name.strip().lower())
    if entry is not None:
        _check_options(cfg, entry)
        if entry.num_classes is not None and cfg.labels_per_class is not None:
            cfg = replace(cfg, labels=resolve_labels(cfg.labels, cfg.labels_per_class, entry.num_classes, None), labels_per_class=None)
        return entry.load(cfg, seed)
    if imagefolder.is_image_folder(name, cfg.data_dir):
        _check_options(cfg, _IMAGE_FOLDER)
        return imagefolder.load(cfg, seed)
    if suffix:
        raise SemimixError(f"dataset {name!r}: unsupported file type {suffix!r}; convert it to .npz or .csv")
    raise SemimixError(f"unknown dataset {name!r}; {_valid_choices()}")


def list_datasets(data_dir: str | None) -> list[dict]:
    """Every dataset ``load_dataset`` can open: the built-ins (for the benchmarks, whether their files
    are under ``data_dir`` and where they were found or looked for), then the .npz/.csv files in ``data_dir``."""
    folder = Path(data_dir).expanduser() if data_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise SemimixError(f"data_dir {str(folder.absolute())!r} is not a directory; create it or fix the path")
    entries = []
    for entry in _REGISTRY:
        found, where = entry.status(data_dir) if entry.status is not None else (True, entry.where)
        entries.append({"name": entry.name, "description": entry.description, "found": found, "where": where})
    if folder is None:
        return entries
    files = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in SUFFIXES)
    return entries + [{"name": path.name, "description": f"your {path.suffix.lower()} file", "found": True, "where": str(path.absolute())} for path in files]


__all__ = ["DATASET_NAMES", "DataBundle", "DataConfig", "list_datasets", "load_dataset"]
