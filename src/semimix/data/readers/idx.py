"""Reader for the IDX files of MNIST and Fashion-MNIST (gzip-compressed or not), checked against their header.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in row-major order. Only unsigned bytes
(type code 0x08), the type of every MNIST-style file, are read.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from semimix.data.readers.checks import damaged, first_line

UBYTE = 0x08
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1, so a larger claim is a damaged header


def _fill(stream: io.BufferedIOBase, buffer: np.ndarray) -> int:
    """Read into ``buffer`` until it is full or the stream ends; the number of bytes read."""
    view, got = memoryview(buffer).cast("B"), 0  # type: ignore[arg-type]  # numpy declares ndarray.__buffer__ for Python >= 3.12 only
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of shape (d1, ..., d_ndim) stored in ``path`` (``.gz`` names are decompressed).

    The data must be exactly as long as the header says: a truncated file or trailing bytes are
    errors naming the file, and a header claiming more data than the file can hold is rejected
    before anything is allocated.
    """
    compressed = path.suffix == ".gz"
    magic = UBYTE * 256 + ndim
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4 or header[:3] != bytes([0, 0, UBYTE]) or header[3] != ndim:
                found = int.from_bytes(header, "big") if len(header) == 4 else f"a {len(header)}-byte start"
                raise damaged(path, f"IDX magic number is {found}, expected {magic} (unsigned bytes, {ndim} dimensions)")
            dims = stream.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise damaged(path, f"the IDX header ends early ({len(dims)} of {4 * ndim} dimension bytes); the file is truncated")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            count = int(np.prod(shape, dtype=object))
            size = path.stat().st_size
            limit = size * MAX_DEFLATE_RATIO if compressed else size - 4 - 4 * ndim
            if count > limit:
                raise damaged(path, f"the IDX header announces shape {shape} ({count} bytes), more than the file holds")
            data = np.empty(count, dtype=np.uint8)
            got = _fill(stream, data)
            if got < count:
                raise damaged(path, f"holds {got} of the {count} data bytes its IDX header announces (shape {shape}); the file is truncated")
            if stream.read(1):
                raise damaged(path, f"has bytes after the {count} data bytes its IDX header announces (shape {shape})")
    except (OSError, EOFError, zlib.error) as err:
        raise damaged(path, f"cannot be read ({first_line(err)})") from None
    return data.reshape(shape)
