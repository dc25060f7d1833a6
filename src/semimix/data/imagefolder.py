"""A user's folder of images as a DataBundle: one sub-folder per class, plus an optional ``unlabeled/`` sub-folder.

    photos/
      cat/  001.png  002.jpg ...
      dog/  a.png ...
      unlabeled/  x.png ...        (optional: images without labels)

Class names are the sorted sub-folder names (class ids 0..C-1 in that order); how the images are
found, checked and decoded is ``semimix.data.readers.imagefolder``'s part.

The images are kept as uint8 (N, C, H, W), 4× smaller than float32, and ``DataBundle.preprocess``
normalises each float batch as ``cfg.preprocess`` asks (``semimix.data.preprocess``), fitted on
the training pool (labeled and unlabeled images, never validation or test): ``standardize`` by
default (per-channel mean/std), ``none`` (raw 0..255) when ``cfg.normalize`` is false.
``cfg.image_size`` resizes every image while reading (a folder of mixed sizes needs it).
Validation and test sets are carved (stratified) from the labeled images only when
``val_size``/``test_size`` is set, as for a user's .npz/.csv file (``assemble.split_and_bundle``);
a fraction is of all labeled images. ``split`` indexes the images in reading order (class folders
in sorted order, files sorted by path, then ``unlabeled/``).

Every image is read into memory at once, unless the folder is too big for that: with
``cfg.stream`` true, or unset and the decoded images bigger than ``streaming.STREAM_BYTES`` (2 GiB,
estimated from the first image's size), the bundle's inputs are ``streaming.FileImages`` that the
trainer decodes batch by batch, and the preprocessing statistics are fitted in one chunked pass
over the training files. A streamed folder takes its size and channels from its first image
(see ``semimix.data.streaming``); the split is the same either way.
"""

from __future__ import annotations

import numpy as np
import torch

from semimix.data import streaming
from semimix.data.assemble import split_and_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.preprocess import build_preprocess, check_preprocess
from semimix.data.readers.imagefolder import find_folder, list_image_folder, read_listed_images, resize_target
from semimix.data.splits import resolve_labels
from semimix.data.streaming import FileImages
from semimix.errors import SemimixError


def _rows(x: np.ndarray | FileImages, rows: np.ndarray) -> np.ndarray | FileImages:
    """Those rows of the images, decoded or (for files) still to decode."""
    return x.subset(rows) if isinstance(x, FileImages) else x[rows]


def load(cfg: DataConfig, seed: int) -> DataBundle:
    """The image folder ``cfg.dataset`` (a directory, as given or inside ``cfg.data_dir``) as a DataBundle.

    Test then validation images are carved from the labeled images when ``test_size``/``val_size``
    is set (else those splits are empty); ``labels`` (or ``labels_per_class``) subsamples the
    remaining labeled images class-balanced, the rest joining the unlabeled ones.
    """
    kind = cfg.preprocess if cfg.preprocess is not None else ("standardize" if cfg.normalize else "none")
    check_preprocess(kind, cfg.zca_epsilon)
    folder = find_folder(cfg.dataset, cfg.data_dir)
    if folder is None:
        raise SemimixError(f"image folder {cfg.dataset!r} does not exist; check the path or data_dir")
    size = resize_target(cfg.image_size)
    data = list_image_folder(folder)
    stream = cfg.stream if cfg.stream is not None else streaming.should_stream(data.paths, size)
    x = FileImages.open(data.paths, size) if stream else read_listed_images(data, str(folder), size)
    source = folder.name or str(folder)
    num_classes = len(data.class_names)
    bundle = split_and_bundle(
        source,
        x,
        data.y,
        np.random.default_rng(seed),
        labels=resolve_labels(cfg.labels, cfg.labels_per_class, num_classes, None),
        num_classes=num_classes,
        class_names=data.class_names,
        test_size=cfg.test_size,
        val_size=cfg.val_size,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        check_classes_left=True,
    )
    for key in ("val", "test"):  # an image folder records both, empty when not carved (saved runs compare them)
        bundle.split.setdefault(key, np.empty(0, dtype=np.int64))
    train = np.union1d(bundle.split["labeled"], bundle.split["unlabeled"])  # every image but the validation and test ones
    train_x = _rows(x, train)  # files are decoded chunk by chunk while fitting
    bundle.preprocess = build_preprocess(kind, [train_x if isinstance(train_x, FileImages) else torch.from_numpy(train_x)], cfg.zca_epsilon, cfg.zca_quirk)
    return bundle
