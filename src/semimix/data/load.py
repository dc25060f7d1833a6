"""``load_dataset``: the DataBundle of a dataset named in a run's config — a registered name or
alias (``semimix.data.registry``), a user's .npz/.csv file, or an image folder — split with the run's seed.

Only the module of the dataset asked for is imported (with its dependencies)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from semimix.data.config import DataConfig
from semimix.data.registry import IMAGE_FOLDER, USER_FILE_SUFFIXES, DatasetInfo, find_dataset, valid_choices
from semimix.data.splits import resolve_labels
from semimix.errors import SemimixError

if TYPE_CHECKING:
    from semimix.data.bundle import DataBundle


def _check_options(cfg: DataConfig, info: DatasetInfo | None) -> None:
    """Settings that would be silently ignored by this dataset are errors instead (``info`` None: a user's file)."""
    name = info.name if info is not None else "a user file"
    if cfg.preprocess is not None and (info is None or not info.preprocess):
        raise SemimixError(
            f"preprocess={cfg.preprocess!r} applies to the image benchmarks only, not {name}; unset it (normalize=true/false standardises this dataset or not)"
        )
    if cfg.svhn_extra and (info is None or info.name != "svhn"):
        raise SemimixError(f"svhn_extra=true applies to the svhn dataset only, not {name}; unset it")
    if cfg.stream is not None and info is not IMAGE_FOLDER:
        raise SemimixError(f"stream={cfg.stream} applies to image folders only, not {name}; unset it (other datasets live in memory)")
    if cfg.image_size is not None and info is not IMAGE_FOLDER:
        raise SemimixError(f"image_size={cfg.image_size} applies to image folders only, not {name}; unset it (their inputs have one shape)")


def load_dataset(cfg: DataConfig, seed: int) -> DataBundle:
    """The DataBundle for ``cfg.dataset`` (a registered name or alias, or a .npz/.csv path, or an image folder), split with ``seed``."""
    name = cfg.dataset
    if not isinstance(name, str) or not name.strip():
        raise SemimixError(f"dataset is not set (got {name!r}); {valid_choices()}")
    suffix = Path(name).suffix.lower()
    if suffix in USER_FILE_SUFFIXES:
        from semimix.data.userfile import load_user_file

        _check_options(cfg, None)
        return load_user_file(cfg, seed)
    info = find_dataset(name)
    if info is not None:
        _check_options(cfg, info)
        if info.num_classes is not None and cfg.labels_per_class is not None:
            cfg = replace(cfg, labels=resolve_labels(cfg.labels, cfg.labels_per_class, info.num_classes, None), labels_per_class=None)
        return info.load(cfg, seed)
    from semimix.data.readers.imagefolder import is_image_folder

    if is_image_folder(name, cfg.data_dir):
        _check_options(cfg, IMAGE_FOLDER)
        return IMAGE_FOLDER.load(cfg, seed)
    if suffix:
        raise SemimixError(f"dataset {name!r}: unsupported file type {suffix!r}; convert it to .npz or .csv")
    raise SemimixError(f"unknown dataset {name!r}; {valid_choices()}")
