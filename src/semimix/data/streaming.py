"""Images read from their files batch by batch, for image folders too big to decode into memory.

Small datasets live as one tensor on the training device and the trainer indexes its batches
there. An image folder whose decoded pixels would exceed ``STREAM_BYTES`` (or any folder with
``DataConfig.stream: true``) instead becomes ``FileImages``: a read-only, tensor-like list of
files that decodes the rows it is indexed with. The trainer then reads its batches through
``decode_batches``, a ``torch.utils.data.DataLoader`` whose ``NUM_WORKERS`` worker processes decode
the next batches (``PREFETCH`` each) while the device trains on this one; evaluation reads
validation and test files the same way, in batches (``batches``).

Every image of a ``FileImages`` must have the size and channels of its first image (a grayscale
image in a colour folder is copied to R, G and B, as when the folder is read into memory). This is
checked as each image is decoded, so a bad file (unreadable, another size, colour in a grayscale
folder) stops the run when it is first read — while fitting the preprocessing statistics for a
training image, at the first evaluation for a validation or test image — with an error naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from semimix.data.readers.imagefolder import image_shape, read_image
from semimix.errors import SemimixError

STREAM_BYTES = 2 << 30  # stream = None (auto): stream a folder whose uint8 pixels would exceed 2 GiB
NUM_WORKERS = min(4, len(os.sched_getaffinity(0)))  # decoding processes of a streamed run
PREFETCH = 2  # batches each worker decodes ahead of the one being trained on
_ERROR = "error"  # a worker hands back a SemimixError as a value, so its message arrives without a traceback


def should_stream(paths: Sequence[Path | str], size: tuple[int, int] | None = None) -> bool:
    """Whether a folder of these images is too big to decode into memory: the first image's
    decoded size (resized to ``size``, if given) times the number of images exceeds ``STREAM_BYTES``."""
    channels, height, width = image_shape(paths[0])
    pixels = height * width if size is None else size[0] * size[1]
    return len(paths) * channels * pixels > STREAM_BYTES


class FileImages:
    """A read-only uint8 (N, C, H, W) "tensor" of image files, decoded with Pillow when indexed.

    ``x[rows]`` for an index tensor, array, list or slice (or one int) returns a uint8 tensor;
    ``subset(rows)`` the FileImages of those rows without decoding anything. ``reference`` is the
    file whose shape every image must have (named in the errors).
    """

    dtype = torch.uint8

    def __init__(self, paths: Sequence[Path | str], image_shape: tuple[int, int, int], reference: Path | str, size: tuple[int, int] | None = None) -> None:
        self.paths = [str(path) for path in paths]
        self.image_shape: tuple[int, int, int] = (*image_shape,)
        self.reference = str(reference)
        self.size = size  # (width, height) every image is resized to while decoding, or None

    @classmethod
    def open(cls, paths: Sequence[Path | str], size: tuple[int, int] | None = None) -> FileImages:
        """The images ``paths``, shaped like the first one (resized to ``size``, (width, height), if given)."""
        channels, height, width = image_shape(paths[0])
        if size is not None:
            width, height = size
        return cls(paths, (channels, height, width), paths[0], size)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), *self.image_shape))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FileImages({len(self)} files, shape {tuple(self.shape)}, first {self.reference})"

    def _rows(self, index: Any) -> np.ndarray:
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        return np.arange(len(self))[index]  # numpy's rules: slices, negatives, masks, IndexError out of range

    def subset(self, rows: Any) -> FileImages:
        return FileImages([self.paths[i] for i in np.atleast_1d(self._rows(rows))], self.image_shape, self.reference, self.size)

    def __getitem__(self, index: Any) -> torch.Tensor:
        rows = self._rows(index)
        out = np.empty((rows.size, *self.image_shape), dtype=np.uint8)
        for k, i in enumerate(rows.reshape(-1)):
            out[k] = self._decode(self.paths[i])  # a grayscale (H, W) image fills every channel
        return torch.from_numpy(out.reshape(*rows.shape, *self.image_shape))

    def _decode(self, path: str) -> np.ndarray:
        image = read_image(path, self.size)
        channels, height, width = self.image_shape
        if image.shape[:2] != (height, width):
            h, w = image.shape[:2]
            raise SemimixError(f"image {path} is {w}x{h} pixels but the first image {self.reference} is {width}x{height}; resize all images to one size")
        if image.ndim == 3 and channels == 1:
            raise SemimixError(
                f"image {path} is in colour but the first image {self.reference} is grayscale; a streamed folder takes "
                "its channels from its first image, so convert the images to one mode (e.g. all RGB)"
            )
        return image.transpose(2, 0, 1) if image.ndim == 3 else image


class _Decode(Dataset):
    """What a worker does: one request {name: rows} -> {name: uint8 tensor of those rows of sources[name]}."""

    def __init__(self, sources: dict[str, FileImages]) -> None:
        self.sources = sources

    def __getitem__(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return {name: self.sources[name][rows] for name, rows in request.items()}
        except SemimixError as err:
            return {_ERROR: str(err)}


def decode_batches(
    sources: dict[str, FileImages], requests: Iterable[dict[str, Any]], device: torch.device, num_workers: int | None = None
) -> Iterator[dict[str, torch.Tensor]]:
    """For each request {name: rows} (index arrays or slices), in order, the rows of ``sources[name]`` on ``device``.

    The DataLoader draws ``requests`` in this process as its ``num_workers`` (default
    ``NUM_WORKERS``; 0 decodes here) workers need them, up to ``PREFETCH`` per worker ahead of the
    batch returned; on CUDA the batches come through pinned memory. It draws its workers' seeds
    from a generator of its own, so streaming leaves torch's global random state as it found it.
    """
    workers = NUM_WORKERS if num_workers is None else num_workers
    loader = DataLoader(
        _Decode(sources),
        batch_size=None,  # each request is a whole batch
        sampler=requests,
        num_workers=workers,
        prefetch_factor=PREFETCH if workers else None,
        pin_memory=device.type == "cuda",
        generator=torch.Generator(),
    )
    for item in loader:
        if _ERROR in item:
            raise SemimixError(item[_ERROR])
        yield {name: x.to(device, non_blocking=True) for name, x in item.items()}


def batches(x: torch.Tensor | FileImages, batch_size: int, device: torch.device) -> Iterator[torch.Tensor]:
    """The rows of ``x`` in consecutive batches on ``device``: slices of a tensor, or decoded files."""
    starts = range(0, len(x), batch_size)
    if not isinstance(x, FileImages):
        return (x[i : i + batch_size].to(device) for i in starts)
    requests = [{"x": slice(i, i + batch_size)} for i in starts]
    return (batch["x"] for batch in decode_batches({"x": x}, requests, device, min(NUM_WORKERS, len(requests))))
