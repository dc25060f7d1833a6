"""Reader of a folder of images, one sub-folder per class plus an optional ``unlabeled/`` sub-folder, and of one image file.

    photos/
      cat/  001.png  002.jpg ...
      dog/  a.png ...
      unlabeled/  x.png ...        (optional: images without labels)

Class names are the sorted sub-folder names (class ids 0..C-1 in that order). Files are found in
each class folder and its sub-folders, sorted by path; files with other suffixes than the image
ones (``IMAGE_SUFFIXES``) and hidden files or folders (names starting with ".") are skipped.
Images are read with Pillow and converted to one mode: grayscale ("L", one channel) when every
image is grayscale, else RGB (alpha dropped). Every image must have the same width and height —
the error names an image that differs — unless a ``size`` resizes them while reading
(``data.image_size``, turned into one by ``resize_target``). Images are returned as uint8 (N, C, H, W) in
reading order (class folders in sorted order, files sorted by path, then ``unlabeled/``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semimix.errors import SemimixError

UNLABELED_DIR = "unlabeled"
UNLABELED = -1
GRAY_MODES = ("1", "L", "LA", "La")
DEEP_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")  # more than 8 bits per channel
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm")
RESIZE_OPTION = "data.image_size (e.g. --set data.image_size=32)"
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


def image_files(folder: Path) -> list[Path]:
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
        f"image {files[odd]} in {source} is {w}x{h} pixels but {count} of the {len(sizes)} images are {cw}x{ch} (e.g. {example}); "
        f"resize all images to one size, or set {RESIZE_OPTION} to resize them while reading"
    )


def resize_target(image_size: object) -> tuple[int, int] | None:
    """``data.image_size`` (a side, or [height, width]) as Pillow's (width, height), or None when unset."""
    if image_size is None:
        return None
    sides = [image_size] if isinstance(image_size, int) else image_size if isinstance(image_size, (list, tuple)) else None
    if sides is None or len(sides) not in (1, 2) or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sides):
        raise SemimixError(f"data.image_size must be a positive number of pixels or [height, width], got {image_size!r}")
    height, width = (sides[0], sides[0]) if len(sides) == 1 else sides
    return (width, height)


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
        found = image_files(class_dir)
        if not found:
            raise SemimixError(f"class folder {class_dir} has no images ({', '.join(IMAGE_SUFFIXES[:4])} ...); add images or remove the folder")
        paths += found
        labels += [label] * len(found)
    unlabeled = folder / UNLABELED_DIR
    if unlabeled.is_dir():
        found = image_files(unlabeled)
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
    return ImageFolderData(read_listed_images(listing, str(folder), size), listing.y, listing.class_names, listing.files)


def read_listed_images(listing: FolderListing, source: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every image of ``listing`` decoded into one uint8 (N, C, H, W) array."""
    images = [read_image(path, size) for path in listing.paths]
    _check_same_size(images, listing.files, source)
    color = any(image.ndim == 3 for image in images)
    x = np.empty((len(images), 3 if color else 1, *images[0].shape[:2]), dtype=np.uint8)
    for i, image in enumerate(images):
        x[i] = image.transpose(2, 0, 1) if image.ndim == 3 else image  # a gray image fills every channel
    return x


def _unreadable(path: Path | str, err: Exception) -> SemimixError:
    from PIL import UnidentifiedImageError

    reason = "not an image format Pillow can read" if isinstance(err, UnidentifiedImageError) else str(err)
    return SemimixError(f"cannot read image {path} ({reason}); replace or delete that file")


def read_image(path: Path | str, size: tuple[int, int] | None = None, mode: str | None = None) -> np.ndarray:
    """One image as uint8 (H, W) if grayscale, else (H, W, 3); resized to ``size`` (width, height) if
    given; ``mode`` "L" or "RGB" converts it to that mode whatever it is."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in DEEP_MODES:
                raise SemimixError(f"image {path} has {image.mode!r} pixels (more than 8 bits per channel); save the images as 8-bit grayscale or RGB")
            image = image.convert(mode or ("L" if image.mode in GRAY_MODES else "RGB"))
            if size is not None and image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except SemimixError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from None


def image_shape(path: Path | str) -> tuple[int, int, int]:
    """(channels, height, width) an image will decode to, read from its header alone."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return (1 if image.mode in GRAY_MODES else 3, image.height, image.width)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise _unreadable(path, err) from None
