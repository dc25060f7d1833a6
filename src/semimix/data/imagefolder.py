"""A user's folder of images: one sub-folder per class, plus an optional ``unlabeled/`` sub-folder.

    photos/
      cat/  001.png  002.jpg ...
      dog/  a.png ...
      unlabeled/  x.png ...        (optional: images without labels)

Class names are the sorted sub-folder names (class ids 0..C-1 in that order). Files are found in
each class folder and its sub-folders, sorted by path; files with other suffixes than the image
ones (``IMAGE_SUFFIXES``) and hidden files or folders (names starting with ".") are skipped.
Images are read with Pillow and converted to one mode: grayscale ("L", one channel) when every
image is grayscale, else RGB (alpha dropped). Every image must have the same width and height —
the error names an image that differs, so resize them beforehand; ``read_image_folder(size=...)``
can resize while reading for callers that want it.

The images are kept as uint8 (N, C, H, W), 4× smaller than float32, and ``DataBundle.preprocess``
normalises each float batch as ``cfg.preprocess`` asks (``semimix.data.preprocess``), fitted on
the training pool (labeled and unlabeled images, never validation or test): ``standardize`` by
default (per-channel mean/std), ``none`` (raw 0..255) when ``cfg.normalize`` is false.
Validation and test sets are carved (stratified) from the labeled images only when
``val_size``/``test_size`` is set, as for a user's .npz/.csv file; a fraction is of all labeled
images. ``split`` indexes the images in reading order (class folders
in sorted order, files sorted by path, then ``unlabeled/``).

Every image is read into memory at once, unless the folder is too big for that: with
``cfg.stream`` true, or unset and the decoded images bigger than ``streaming.STREAM_BYTES`` (2 GiB,
estimated from the first image's size), the bundle's inputs are ``streaming.FileImages`` that the
trainer decodes batch by batch, and the preprocessing statistics are fitted in one chunked pass
over the training files. A streamed folder takes its size and channels from its first image
(see ``semimix.data.streaming``); the split is the same either way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semimix.data import streaming
from semimix.data.assemble import make_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.preprocess import build_preprocess, check_preprocess
from semimix.data.readers import check_classes
from semimix.data.splits import balanced_labeled_subset, resolve_count, resolve_labels, stratified_split
from semimix.data.streaming import FileImages, read_image
from semimix.errors import SemimixError

DESCRIPTION = "your image folder: one sub-folder of images per class, optional unlabeled/ sub-folder"
WHERE = "a directory path (as given, or inside data_dir)"

UNLABELED_DIR = "unlabeled"
UNLABELED = -1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm")
LAYOUT = "put each class's images in its own sub-folder (folder/cat/1.png, folder/dog/2.png) and unlabeled ones in folder/unlabeled/"


@dataclass
class ImageFolderData:
    """Every image of a folder: ``x`` uint8 (N, C, H, W), ``y`` class ids with -1 for the unlabeled
    images, and each image's path relative to the folder (same order)."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    files: list[str]


def find_folder(dataset: str, data_dir: str | None) -> Path | None:
    """The directory ``dataset`` as given, else (for a relative path) inside ``data_dir``; None if neither exists."""
    path = Path(dataset).expanduser()
    candidates = [path]
    if data_dir is not None and not path.is_absolute():
        candidates.append(Path(data_dir).expanduser() / path)
    return next((candidate for candidate in candidates if candidate.is_dir()), None)


def is_image_folder(dataset: str, data_dir: str | None) -> bool:
    """Whether ``dataset`` names a directory (so ``load`` should read it as an image folder)."""
    return find_folder(dataset, data_dir) is not None


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def _image_files(folder: Path) -> list[Path]:
    """Image files in ``folder`` and its sub-folders, sorted, hidden ones skipped."""
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and _visible(path, folder))


def _check_same_size(images: list[np.ndarray], files: list[str], source: str) -> None:
    sizes = [image.shape[:2] for image in images]
    common, count = Counter(sizes).most_common(1)[0]
    if count == len(sizes):
        return
    odd = next(i for i, s in enumerate(sizes) if s != common)
    example = files[sizes.index(common)]
    (h, w), (ch, cw) = sizes[odd], common
    raise SemimixError(
        f"image {files[odd]} in {source} is {w}x{h} pixels but {count} of the {len(sizes)} images are {cw}x{ch} (e.g. {example}); resize all images to one size"
    )


@dataclass
class FolderListing:
    """The image files of a folder in reading order, with their class ids (-1: unlabeled), class
    names, and paths relative to the folder."""

    paths: list[Path]
    y: np.ndarray
    class_names: list[str]
    files: list[str]


def list_image_folder(folder: Path) -> FolderListing:
    """Find and check the images of ``folder`` (layout in the module docstring) without reading them."""
    source = str(folder)
    entries = sorted(path for path in folder.iterdir() if _visible(path, folder))
    loose = [path.name for path in entries if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise SemimixError(f"{source} has images outside any class folder ({', '.join(loose[:3])}); {LAYOUT}")
    class_dirs = [path for path in entries if path.is_dir() and path.name != UNLABELED_DIR]
    if not class_dirs:
        raise SemimixError(f"{source} has no class sub-folders; {LAYOUT}")
    if len(class_dirs) == 1:
        raise SemimixError(
            f"{source} has only 1 class folder ({class_dirs[0].name}); a classifier needs at least 2 classes, "
            "so add a sub-folder of images for each other class"
        )
    paths, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        found = _image_files(class_dir)
        if not found:
            raise SemimixError(f"class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES[:4])} ...); add images or remove the folder")
        paths += found
        labels += [label] * len(found)
    unlabeled = folder / UNLABELED_DIR
    if unlabeled.is_dir():
        found = _image_files(unlabeled)
        paths += found
        labels += [UNLABELED] * len(found)
    files = [path.relative_to(folder).as_posix() for path in paths]
    return FolderListing(paths, np.array(labels, dtype=np.int64), [path.name for path in class_dirs], files)


def read_image_folder(folder: Path, size: tuple[int, int] | None = None) -> ImageFolderData:
    """Read and check every image of ``folder`` (layout in the module docstring).

    ``size`` (width, height) resizes every image while reading; by default all images must
    already share one size.
    """
    listing = list_image_folder(folder)
    return ImageFolderData(_read_all(listing, str(folder), size), listing.y, listing.class_names, listing.files)


def _read_all(listing: FolderListing, source: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every image of ``listing`` decoded into one uint8 (N, C, H, W) array."""
    images = [read_image(path, size) for path in listing.paths]
    _check_same_size(images, listing.files, source)
    color = any(image.ndim == 3 for image in images)
    x = np.empty((len(images), 3 if color else 1, *images[0].shape[:2]), dtype=np.uint8)
    for i, image in enumerate(images):
        x[i] = image.transpose(2, 0, 1) if image.ndim == 3 else image  # a gray image fills every channel
    return x


def _rows(x: np.ndarray | FileImages, rows: np.ndarray) -> np.ndarray | FileImages:
    """Those rows of the images, decoded or (for files) still to decode."""
    return x.subset(rows) if isinstance(x, FileImages) else x[rows]


def _carve(y: np.ndarray, size: float | int | None, rows: np.ndarray, rng: np.random.Generator, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split of ``size`` labeled images out of ``rows`` (a fraction is of all labeled
    images); returns (split rows, rows left). Empty when ``size`` is None."""
    if size is None:
        return np.empty(0, dtype=np.int64), rows
    count = resolve_count(size, int((y >= 0).sum()), what)
    labeled = rows[y[rows] >= 0]
    taken = labeled[stratified_split(y[labeled], count, rng, what)[1]]
    return taken, np.setdiff1d(rows, taken)


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
    data = list_image_folder(folder)
    stream = cfg.stream if cfg.stream is not None else streaming.should_stream(data.paths)
    x = FileImages.open(data.paths) if stream else _read_all(data, str(folder))
    source = folder.name or str(folder)
    num_classes = len(data.class_names)
    labels = resolve_labels(cfg.labels, cfg.labels_per_class, num_classes, None)
    rng = np.random.default_rng(seed)
    test, pool = _carve(data.y, cfg.test_size, np.arange(len(data.y)), rng, "test_size")
    val, train = _carve(data.y, cfg.val_size, pool, rng, "val_size")
    check_classes(data.y[train], num_classes, data.class_names, source, " left for training after test_size/val_size")
    labeled = train[data.y[train] >= 0]
    if labels is not None:
        labeled = labeled[balanced_labeled_subset(data.y[labeled], labels, rng)]
    bundle = make_bundle(
        source,
        _rows(x, pool),
        data.y[pool],
        np.searchsorted(pool, labeled),
        np.searchsorted(pool, val),
        (_rows(x, test), data.y[test]),
        num_classes=num_classes,
        class_names=data.class_names,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        normalize=False,
        pool_ids=pool,
        split={"test": test},
    )
    train_x = _rows(x, train)  # files are decoded chunk by chunk while fitting
    bundle.preprocess = build_preprocess(kind, [train_x if isinstance(train_x, FileImages) else torch.from_numpy(train_x)], cfg.zca_epsilon, cfg.zca_quirk)
    return bundle
