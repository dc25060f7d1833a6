"""Reader for SVHN's cropped-digit MATLAB files (train_32x32.mat, test_32x32.mat, extra_32x32.mat).

Each holds ``X``, uint8 images of shape (32, 32, 3, N), and ``y``, N labels 1..10 where 10
stands for the digit 0 (the official convention, which torchvision also maps to 0).

The files are parsed here rather than by ``scipy.io.loadmat``, whose compiled reader crashes the
whole process (segmentation fault) on some damaged files. Only what SVHN needs is read: MATLAB
v5 numeric arrays, stored plain or zlib-compressed (v7), every size checked before it is used.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from semimix.data.readers.checks import class_ids, damaged, first_line

ZERO_LABEL = 10
HEADER = 128
MI_INT8, MI_INT32, MI_UINT32, MI_MATRIX, MI_COMPRESSED = 1, 5, 6, 14, 15
STORAGE = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE .. mxUINT64
COMPLEX_FLAG = 0x800
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1, so a larger claim is damage
CHUNK = 1 << 20
ByteOrder = Literal["little", "big"]


class _Region:
    """The next ``size`` bytes of a file, or what that many zlib-compressed bytes inflate to.

    ``budget`` is the most bytes still allowed out of it (the element's declared size); every
    size read from the file is checked against it before anything is allocated, and reading past
    the end is a truncation error naming the file.
    """

    def __init__(self, stream: io.BufferedIOBase, size: int, path: Path, compressed: bool) -> None:
        self.stream, self.left, self.path = stream, size, path
        self.inflate = zlib.decompressobj() if compressed else None
        self.budget = size * MAX_DEFLATE_RATIO if compressed else size

    def _readinto(self, view: memoryview) -> int:
        if self.inflate is None:
            got = self.stream.readinto(view[: self.left]) or 0
            self.left -= got
            return got
        while True:
            if self.inflate.unconsumed_tail:
                data = self.inflate.decompress(self.inflate.unconsumed_tail, len(view))
            elif self.left and not self.inflate.eof:
                chunk = self.stream.read(min(CHUNK, self.left))
                self.left -= len(chunk)
                if not chunk:
                    return 0
                data = self.inflate.decompress(chunk, len(view))
            else:
                return 0
            if data:
                view[: len(data)] = data
                return len(data)

    def check(self, size: int, what: str) -> None:
        if size > self.budget:
            raise damaged(self.path, f"{what} claims {size} bytes but its element holds at most {self.budget}")

    def fill(self, buffer: np.ndarray | bytearray, what: str) -> None:
        view, got = memoryview(buffer).cast("B"), 0  # type: ignore[arg-type]  # numpy declares ndarray.__buffer__ for Python >= 3.12 only
        self.check(len(view), what)
        while got < len(view):
            n = self._readinto(view[got:])
            if not n:
                raise damaged(self.path, f"{what} ends after {got} of its {len(view)} bytes; the file is truncated")
            got += n
        self.budget -= got

    def read(self, n: int, what: str) -> bytes:
        buffer = bytearray(n)
        self.fill(buffer, what)
        return bytes(buffer)

    def finish(self, what: str) -> None:
        """A compressed element must end where its data does: inflating the rest (at most its
        padding) also verifies the zlib checksum, so damage after the values is caught too."""
        if self.inflate is None:
            return
        scratch = memoryview(bytearray(8))
        while self._readinto(scratch):
            pass
        if not self.inflate.eof:
            raise damaged(self.path, f"{what} is cut short; the file is truncated")


def _tag(region: _Region, order: ByteOrder, what: str) -> tuple[int, int, bytes | None]:
    """(data type, byte count, the data itself for a 'small' element packed into the tag)."""
    raw = region.read(8, what)
    first = int.from_bytes(raw[:4], order)
    if first >> 16:
        if first >> 16 > 4:
            raise damaged(region.path, f"{what} is a packed element of {first >> 16} bytes; at most 4 fit")
        return first & 0xFFFF, first >> 16, raw[4 : 4 + (first >> 16)]
    return first, int.from_bytes(raw[4:], order), None


def _small(region: _Region, order: ByteOrder, kind: int, what: str, limit: int) -> bytes:
    """A short sub-element (flags, dimensions, name) of type ``kind``, padding skipped."""
    mtype, size, data = _tag(region, order, what)
    if mtype != kind or size > limit:
        raise damaged(region.path, f"{what} has type {mtype} and {size} bytes, expected type {kind} and at most {limit}")
    if data is None:
        data = region.read(size, what)
        region.read(-size % 8, what)
    return data


def _matrix(region: _Region, order: ByteOrder, wanted: set[str]) -> tuple[str, np.ndarray | None]:
    """The name of a miMATRIX element, and its values (shape as stored, Fortran order) if wanted."""
    flags = int.from_bytes(_small(region, order, MI_UINT32, "an array's flags", 8)[:4], order)
    dims_raw = _small(region, order, MI_INT32, "an array's dimensions", 4 * 32)
    if len(dims_raw) % 4:
        raise damaged(region.path, f"an array's dimensions take {len(dims_raw)} bytes, not a multiple of 4")
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=f"{'<' if order == 'little' else '>'}i4"))
    name = _small(region, order, MI_INT8, "an array's name", 64).decode("latin1")
    if name not in wanted:
        return name, None
    if flags & 0xFF not in NUMERIC_CLASSES or flags & COMPLEX_FLAG or min(shape, default=0) < 0:
        raise damaged(region.path, f"variable {name} is not a real numeric array (class {flags & 0xFF}, shape {shape})")
    what = f"the values of {name}"
    mtype, size, data = _tag(region, order, what)
    if mtype not in STORAGE:
        raise damaged(region.path, f"variable {name} stores its values as unknown type {mtype}")
    dtype = np.dtype(STORAGE[mtype]).newbyteorder("<" if order == "little" else ">")
    count = int(np.prod(shape, dtype=object))
    if size != count * dtype.itemsize:
        raise damaged(region.path, f"variable {name} has shape {shape} but {size} bytes of {dtype.name} values")
    if data is not None:
        values = np.frombuffer(data, dtype)[:count].copy()
    else:
        region.check(size, what)
        values = np.empty(count, dtype)
        region.fill(values, what)
    region.finish(f"variable {name}")
    return name, values.reshape(shape, order="F")


def _variables(path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    """The numeric variables ``wanted`` of a MATLAB v5 file; the others are skipped unread."""
    found: dict[str, np.ndarray] = {}
    with open(path, "rb") as stream:
        header = stream.read(HEADER)
        mark = header[126:128]
        if len(header) < HEADER or mark not in (b"IM", b"MI"):
            raise damaged(path, "is not a MATLAB v5 file (no 'MATLAB 5.0 MAT-file' header)")
        order: ByteOrder = "little" if mark == b"IM" else "big"
        version = int.from_bytes(header[124:126], order)
        if version != 0x0100:
            hint = (
                "is a MATLAB v7.3 (HDF5) file; re-save it with save(..., '-v7')" if version == 0x0200 else f"has MAT-file version {version:#x}, expected 0x100"
            )
            raise damaged(path, hint)
        size, position = path.stat().st_size, HEADER
        while position + 8 <= size and wanted - found.keys():
            stream.seek(position)
            mtype, count, _ = _tag(_Region(stream, 8, path, False), order, "an element header")
            if position + 8 + count > size:
                raise damaged(path, f"the element at byte {position} claims {count} bytes but only {size - position - 8} follow; the file is truncated")
            region = _Region(stream, count, path, compressed=mtype == MI_COMPRESSED)
            if mtype == MI_COMPRESSED:
                mtype, inner, _ = _tag(region, order, "a compressed element")
                region.check(inner, "a compressed element")
                region.budget = inner
            if mtype == MI_MATRIX:
                name, values = _matrix(region, order, wanted)
                if values is not None:
                    found[name] = values
            position += 8 + count + (0 if region.inflate is not None else -count % 8)
    return found


def _load(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The variables ``names``, each checked to be present."""
    try:
        content = _variables(path, set(names))
    except (OSError, zlib.error, MemoryError) as err:
        raise damaged(path, f"cannot be read ({first_line(err)})") from None
    missing = [key for key in names if key not in content]
    if missing:
        raise damaged(path, f"has no variable {' or '.join(missing)}; expected X (32x32x3xN uint8 images) and y (N labels 1..10)")
    return content


def _labels(path: Path, labels: np.ndarray) -> np.ndarray:
    y = class_ids(labels.ravel(), 1, ZERO_LABEL, path, "y")
    y[y == ZERO_LABEL] = 0
    return y


def read_labels(path: Path) -> np.ndarray:
    """The labels 0..9 (int64) of an SVHN file, without reading its images."""
    return _labels(path, _load(path, ["y"])["y"])


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images as an (N, 3, 32, 32) uint8 view of the file's array, and labels 0..9 as int64."""
    content = _load(path, ["X", "y"])
    x = content["X"]
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise damaged(path, f"X is a {x.dtype} array of shape {x.shape}, expected uint8 of shape (32, 32, 3, N)")
    y = _labels(path, content["y"])
    if len(y) != x.shape[3]:
        raise damaged(path, f"y has {len(y)} labels but X holds {x.shape[3]} images")
    return x.transpose(3, 2, 0, 1), y
