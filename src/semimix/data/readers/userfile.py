"""Reader of a user's .npz or .csv file, checked so that bad data fails with a message instead of a traceback.

Both readers return a ``UserData``: float features, int labels with -1 for unlabeled samples,
and the optional validation/test sets the file itself provides (only .npz can).
"""

from __future__ import annotations

import csv
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semimix.data.readers.checks import format_values
from semimix.data.splits import check_classes
from semimix.errors import SemimixError

UNLABELED = -1
UNLABELED_CELLS = ("", "-1")
NPZ_HOWTO = "save it with numpy.savez(path, X=features, y=labels)"

Split = tuple[np.ndarray, np.ndarray]


@dataclass
class UserData:
    """The contents of a user's file after validation; ``val``/``test`` are None when it has none."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    class_names: list[str]
    val: Split | None = None
    test: Split | None = None
    pixel_range: tuple[float, float] | None = None  # the raw values' range when their type says it (uint8 X: 0..255)


def is_number(cell: str) -> bool:
    """Whether a CSV cell reads as a number (a header cell does not)."""
    try:
        float(cell)
    except ValueError:
        return False
    return True


def check_features(x: np.ndarray, what: str, row_numbers: np.ndarray | None = None, row_unit: str = "row") -> np.ndarray:
    """Features must be a non-empty numeric (N, ...) array without NaN/Inf; returns them as float64."""
    if x.dtype.kind not in "biuf":
        raise SemimixError(f"{what} has dtype {x.dtype}; features must be numbers")
    if x.ndim < 2:
        raise SemimixError(f"{what} has shape {x.shape}; give it shape (N, features...), e.g. X.reshape(-1, 1)")
    if len(x) == 0:
        raise SemimixError(f"{what} is empty (0 samples); the dataset needs at least one sample per class")
    x = x.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        numbers = bad if row_numbers is None else row_numbers[bad]
        raise SemimixError(f"{what} has NaN or Inf features in {bad.size} {row_unit}s ({row_unit}s {format_values(numbers)}); remove or fill in those values")
    return x


def check_int_labels(y: np.ndarray, what: str, allow_unlabeled: bool) -> np.ndarray:
    """Labels must be a 1-D array of integer class ids >= 0 (or -1 = unlabeled when allowed)."""
    if y.dtype.kind not in "iuf":
        raise SemimixError(f"{what} has dtype {y.dtype}; labels must be integer class ids 0..C-1 (-1 = unlabeled)")
    if y.ndim != 1:
        raise SemimixError(f"{what} has shape {y.shape}; labels must be 1-D, shape (N,) (use y.ravel())")
    non_integer = np.unique(y[~np.isfinite(y) | (y != np.round(y))]) if y.dtype.kind == "f" else y[:0]
    if non_integer.size:
        raise SemimixError(f"{what} has non-integer labels {format_values(non_integer)}; labels must be integer class ids")
    y = y.astype(np.int64)
    lowest = UNLABELED if allow_unlabeled else 0
    negative = np.unique(y[y < lowest])
    if negative.size:
        allowed = "0..C-1 or -1 for unlabeled" if allow_unlabeled else "0..C-1 (no unlabeled samples here)"
        raise SemimixError(f"{what} has labels {format_values(negative)}; class ids must be {allowed}")
    return y


def read_npz(path: Path) -> UserData:
    """Arrays ``X`` (N, ...) and ``y`` (N,), -1 = unlabeled; optionally ``X_val, y_val, X_test, y_test``."""
    if not zipfile.is_zipfile(path):
        raise SemimixError(f"{path} is not a .npz archive (not a zip file); {NPZ_HOWTO}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: np.asarray(archive[key]) for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise SemimixError(f"cannot read {path} as a .npz archive ({err}); {NPZ_HOWTO}") from None
    missing = [key for key in ("X", "y") if key not in arrays]
    if missing:
        found = ", ".join(sorted(arrays)) or "none"
        raise SemimixError(f"{path.name} lacks array {' and '.join(missing)} (keys found: {found}); {NPZ_HOWTO}")
    x = check_features(arrays["X"], f"X in {path.name}")
    y = check_int_labels(arrays["y"], f"y in {path.name}", allow_unlabeled=True)
    if len(x) != len(y):
        raise SemimixError(f"{path.name}: X has {len(x)} rows but y has {len(y)}; give one label (or -1) per sample")
    num_classes = int(y.max()) + 1
    class_names = [str(c) for c in range(num_classes)]
    check_classes(y, num_classes, class_names, path.name)
    return UserData(
        x,
        y,
        num_classes,
        class_names,
        val=_npz_eval_split(arrays, "val", x.shape[1:], num_classes, path.name),
        test=_npz_eval_split(arrays, "test", x.shape[1:], num_classes, path.name),
        pixel_range=(0.0, 255.0) if arrays["X"].dtype == np.uint8 else None,
    )


def _npz_eval_split(arrays: dict[str, np.ndarray], split: str, shape: tuple[int, ...], num_classes: int, source: str) -> Split | None:
    x_key, y_key = f"X_{split}", f"y_{split}"
    if x_key not in arrays and y_key not in arrays:
        return None
    if x_key not in arrays or y_key not in arrays:
        raise SemimixError(f"{source} has only one of {x_key} and {y_key}; give both or neither")
    y = check_int_labels(arrays[y_key], f"{y_key} in {source}", allow_unlabeled=False)
    if len(y) == 0:
        return np.empty((0, *shape)), y
    x = check_features(arrays[x_key], f"{x_key} in {source}")
    if x.shape[1:] != shape:
        raise SemimixError(f"{x_key} in {source} has samples of shape {x.shape[1:]} but X has {shape}; they must match")
    if len(x) != len(y):
        raise SemimixError(f"{source}: {x_key} has {len(x)} rows but {y_key} has {len(y)}; give one label per sample")
    out_of_range = np.unique(y[y >= num_classes])
    if out_of_range.size:
        raise SemimixError(
            f"{y_key} in {source} has labels {format_values(out_of_range)} but the training labels only "
            f"have classes 0..{num_classes - 1}; every class needs labeled training samples"
        )
    return x, y


def _read_csv_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """Non-blank rows with stripped cells, and the line number each starts on."""
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            start = 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append([cell.strip() for cell in row])
                    lines.append(start)
                start = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SemimixError(f"cannot read {path} as a comma-separated UTF-8 text file ({err})") from None
    return rows, lines


def _label_index(header: list[str] | None, label_column: str | None, ncols: int, source: str) -> int:
    """``label_column`` if given, else a column named "label", else the last column."""
    if label_column is None:
        names = [name.lower() for name in header or []]
        return names.index("label") if "label" in names else ncols - 1
    if header is None:
        raise SemimixError(f"label_column={label_column!r} is set but {source} has no header row; add a header or unset label_column")
    if label_column not in header:
        raise SemimixError(f"{source} has no column {label_column!r} (columns: {', '.join(header)}); fix label_column")
    return header.index(label_column)


def _parse_labels(cells: list[str], source: str) -> tuple[np.ndarray, list[str]]:
    """Integer class ids if every label cell is a number, else string class names (sorted)."""
    known = [cell for cell in cells if cell not in UNLABELED_CELLS]
    if all(is_number(cell) for cell in known):
        values = np.array([UNLABELED if cell in UNLABELED_CELLS else float(cell) for cell in cells])
        y = check_int_labels(values, f"the label column of {source}", allow_unlabeled=True)
        return y, [str(c) for c in range(int(y.max()) + 1)]
    class_names = sorted(set(known))
    code = {name: i for i, name in enumerate(class_names)}
    return np.array([code.get(cell, UNLABELED) for cell in cells], dtype=np.int64), class_names


def _parse_features(rows: list[list[str]], lines: list[int], columns: list[str], source: str) -> np.ndarray:
    """Fast numpy conversion; on failure, find the first cell that is not a number to name it."""
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    for row, line in zip(rows, lines):
        for cell, column in zip(row, columns):
            if not is_number(cell):
                raise SemimixError(
                    f"{source} line {line}, column {column}: {cell!r} is not a number; feature cells must be numbers (only the label column may hold text)"
                )
    return np.array([[float(cell) for cell in row] for row in rows])


def read_csv(path: Path, label_column: str | None) -> UserData:
    """Comma-separated feature columns plus a label column; an empty label cell or -1 means unlabeled.

    The first row is a header when one of its feature cells (or its last cell, if that reads
    "label"/``label_column``) is text.
    """
    source = path.name
    rows, lines = _read_csv_rows(path)
    if not rows:
        raise SemimixError(f"{source} is empty; it needs one row per sample: feature columns and a label column")
    first = rows[0]
    is_header = any(cell and not is_number(cell) for cell in first[:-1]) or (first[-1].lower() == "label" or first[-1] == label_column)
    header = first if is_header else None
    if is_header:
        rows, lines = rows[1:], lines[1:]
    ncols = len(first)
    if ncols < 2:
        raise SemimixError(f"{source} has only 1 column; separate feature columns and the label column with commas")
    for row, line in zip(rows, lines):
        if len(row) != ncols:
            raise SemimixError(f"{source} line {line} has {len(row)} fields but the first row has {ncols}; every row needs the same columns")
    if not rows:
        raise SemimixError(f"{source} has a header but no data rows; add one row per sample")
    label_idx = _label_index(header, label_column, ncols, source)
    columns = [name for i, name in enumerate(header or [str(i + 1) for i in range(ncols)]) if i != label_idx]
    features = [row[:label_idx] + row[label_idx + 1 :] for row in rows]
    x = check_features(_parse_features(features, lines, columns, source), source, np.asarray(lines), "line")
    y, class_names = _parse_labels([row[label_idx] for row in rows], source)
    check_classes(y, len(class_names), class_names, source)
    return UserData(x, y, len(class_names), class_names)
