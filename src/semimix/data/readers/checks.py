"""What the format readers share: the error for a damaged official file, and class ids checked to be in range."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semimix.errors import SemimixError


def format_values(values: np.ndarray, limit: int = 5) -> str:
    """The first ``limit`` of ``values`` for an error message, and how many there are in all."""
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def damaged(path: Path, problem: str) -> SemimixError:
    """The one-line error for an official dataset file that cannot be used as it is."""
    return SemimixError(f"{path}: {problem}; the file is damaged or not in the official format, replace it with an intact copy")


def first_line(err: BaseException) -> str:
    """``err`` as ``Type: message`` on one line (library messages may span several), for wrapping."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__


def class_ids(values: object, low: int, high: int, path: Path, what: str) -> np.ndarray:
    """``values`` as a 1-D int64 array of class ids in ``low..high``, else a ``damaged`` error about ``what``."""
    try:
        y = np.asarray(values)
    except Exception as err:  # arbitrary decoded file content: any failure means it is not a label list
        raise damaged(path, f"{what} is not a list of integer class ids ({first_line(err)})") from None
    if y.dtype.kind not in "iuf" or y.ndim != 1:
        raise damaged(path, f"{what} has dtype {y.dtype} and shape {y.shape}; expected a 1-D list of integer class ids")
    if y.dtype.kind == "f" and not (np.isfinite(y) & (y == np.round(y))).all():
        raise damaged(path, f"{what} holds values that are not integer class ids")
    outside = np.unique(y[(y < low) | (y > high)])
    if outside.size:
        shown = np.array([int(v) for v in outside], dtype=object)  # integral floats print as 10, not 10.0
        raise damaged(path, f"{what} has labels {format_values(shown)}, outside the class range {low}..{high}")
    return y.astype(np.int64)
