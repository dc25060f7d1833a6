"""Reader for the pickled batches of CIFAR-10/100 ("python version"), which never runs code from the file.

A pickle can call any importable function while it loads, so a batch file is untrusted input.
The unpickler here resolves only the few names a batch refers to (numpy's array and scalar
reconstruction, ``numpy.dtype``, and the helpers Python 3 uses for bytes); any other reference,
e.g. ``os.system``, stops the load with an error before anything is called.
"""

from __future__ import annotations

import codecs
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from semimix.data.readers.checks import class_ids, damaged, first_line
from semimix.errors import SemimixError

IMAGE_SHAPE = (3, 32, 32)
_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's own functions, whatever numpy calls their module
_SCALAR = np.int64(0).__reduce__()[0]  # a numpy integer in a label list (re-saved files)
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
    ("builtins", "bytearray"): bytearray,
    ("__builtin__", "bytearray"): bytearray,
}


class _Forbidden(Exception):
    """A pickle referred to a name outside ``_ALLOWED``."""


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Forbidden(f"{module}.{name}") from None


def load_pickle(path: Path) -> Any:
    """The object in ``path``, decoded like the official loader (``encoding="bytes"``)."""
    try:
        with open(path, "rb") as stream, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's complaints about a damaged file's arguments; the checks below decide
            return _DataOnlyUnpickler(stream, encoding="bytes").load()
    except _Forbidden as name:
        raise SemimixError(
            f"{path} refers to {name}, which no CIFAR batch contains; it was not loaded (a pickle can run code), replace it with the official file"
        ) from None
    except Exception as err:  # only data-building callables are reachable, so any failure means a damaged file
        raise damaged(path, f"is not a readable pickle ({first_line(err)})") from None


def _fields(path: Path) -> dict[str, Any]:
    """The batch's dict with str keys (the official files have bytes keys, re-saved ones may have str)."""
    content = load_pickle(path)
    if not isinstance(content, dict):
        raise damaged(path, f"holds a {type(content).__name__}, expected a dict")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def _field(fields: dict[str, Any], key: str, path: Path) -> Any:
    if key not in fields:
        found = ", ".join(sorted(str(k) for k in fields)) or "none"
        raise damaged(path, f"has no entry {key!r} (entries: {found})")
    return fields[key]


def read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one batch file (``label_key``:
    ``labels`` for CIFAR-10, ``fine_labels`` for CIFAR-100)."""
    fields = _fields(path)
    data = _field(fields, "data", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != np.prod(IMAGE_SHAPE):
        described = f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise damaged(path, f"'data' is {described}, expected uint8 of shape (N, 3072)")
    y = class_ids(_field(fields, label_key, path), 0, num_classes - 1, path, f"entry {label_key!r}")
    if len(y) != len(data):
        raise damaged(path, f"has {len(data)} images but {len(y)} {label_key!r}")
    return data.reshape(-1, *IMAGE_SHAPE), y


def read_names(path: Path, key: str, num_classes: int) -> list[str]:
    """The class names listed under ``key`` in a meta file (``label_names``, ``fine_label_names``)."""
    names = _field(_fields(path), key, path)
    if not isinstance(names, list) or len(names) != num_classes or not all(isinstance(n, (bytes, str)) for n in names):
        raise damaged(path, f"{key!r} is not a list of {num_classes} class names")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]
