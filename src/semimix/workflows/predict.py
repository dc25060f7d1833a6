"""``semimix predict``'s work: read inputs from files — a ``.npz`` (array ``X``, or its only array),
a ``.csv`` of numeric feature rows (a header row allowed), image files or folders of images — and
predict each one's class probabilities with a run's model (``semimix.runs.load_model``: the
checkpoint alone, not the training data).

Inputs are raw, in the units the run's data came in (0..255 pixels for images), and must have the
run's input shape: array rows of that shape or flat rows of that many features; images of the
run's width and height (converted to its one or three channels; of any size when the run resized
its images, ``data.image_size``: they are resized alike). Anything else is a one-line SemimixError
before anything is written.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from semimix.data.readers.imagefolder import IMAGE_SUFFIXES, image_files, read_image
from semimix.data.readers.userfile import is_number
from semimix.errors import SemimixError
from semimix.runs import load_model
from semimix.train.inference import BATCH_SIZE, TrainedModel

ARRAY_SUFFIXES = (".npz", ".csv")
PROGRESS_ROWS = 4096  # a progress bar (on a terminal) from this many inputs on


@dataclass
class Predictions:
    """Per input its name (file path, or row index), class id and class probabilities (N, C)."""

    names: list[str]
    classes: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    checkpoint: str

    def to_csv(self) -> str:
        """``input,prediction,class_name,p_<class>...``, one row per input."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["input", "prediction", "class_name", *(f"p_{name}" for name in self.class_names)])
        for name, label, row in zip(self.names, self.classes, self.probabilities):
            writer.writerow([name, int(label), self.class_names[label], *(format(float(p), ".8g") for p in row)])
        return text.getvalue()


@dataclass
class _Source:
    """One input argument: ``names`` of its samples and ``read(start, stop)`` of their model inputs."""

    names: list[str]
    read: Callable[[int, int], np.ndarray]


def predict_files(
    run_dir: str | Path,
    inputs: list[str],
    checkpoint: str = "best",
    device: str = "auto",
    batch_size: int = BATCH_SIZE,
) -> Predictions:
    """Class probabilities of every sample of ``inputs`` (paths; see the module docstring) under the
    ``checkpoint`` weights of the run in ``run_dir``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SemimixError(f"the batch size must be a positive number of inputs, got {batch_size!r}")
    if not inputs:
        raise SemimixError("no inputs given; name .npz or .csv files, images or folders of images")
    model = load_model(run_dir, checkpoint, device, batch_size)
    sources = [_source(Path(path), model, several=len(inputs) > 1) for path in inputs]
    total = sum(len(source.names) for source in sources)
    if total == 0:
        raise SemimixError(f"no inputs to predict: {', '.join(inputs)} hold no samples")
    scores = []
    with tqdm(total=total, disable=None if total >= PROGRESS_ROWS else True, unit="input", desc="predicting", dynamic_ncols=True) as bar:
        for source in sources:
            for start, stop in _batches(len(source.names), batch_size):
                scores.append(torch.from_numpy(model.decision_function(source.read(start, stop))))
                bar.update(stop - start)
    every = torch.cat(scores)
    class_names = [str(name) for name in model.classes_]
    return Predictions(
        [name for source in sources for name in source.names],
        every.argmax(dim=1).numpy(),
        torch.softmax(every, dim=1).numpy(),
        class_names,
        model.checkpoint,
    )


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _source(path: Path, model: TrainedModel, several: bool) -> _Source:
    """The samples of one input argument, checked against ``model``'s input shape."""
    if path.is_dir():
        found = image_files(path)
        if not found:
            raise SemimixError(f"folder {path} has no images ({', '.join(IMAGE_SUFFIXES[:4])} ...)")
        return _images(found, model)
    if not path.exists():
        raise SemimixError(f"input {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return _images([path], model)
    if suffix not in ARRAY_SUFFIXES:
        kind = suffix or "(no extension)"
        raise SemimixError(f"cannot predict for {path}: unknown kind of file {kind}; give .npz or .csv files, images or folders of images")
    x = model.from_file_units(_rows(_read_npz(path) if suffix == ".npz" else _read_csv(path), path, model.input_shape))
    names = [f"{path}:{i}" if several else str(i) for i in range(len(x))]
    return _Source(names, lambda start, stop: x[start:stop])


def _read_npz(path: Path) -> np.ndarray:
    """Array ``X`` of a .npz file, or its only array."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise SemimixError(f"{path} holds no arrays; save the inputs as np.savez(path, X=inputs)")
            if "X" not in names and len(names) > 1:
                raise SemimixError(f"{path} holds arrays {', '.join(names)} but none named X; save the inputs as X (np.savez(path, X=inputs))")
            return archive["X" if "X" in names else names[0]]
    except SemimixError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SemimixError(f"cannot read {path} as a .npz file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def _read_csv(path: Path) -> np.ndarray:
    """Numeric rows of a .csv file; a first row that is not all numbers is a header. Blank lines are skipped."""
    try:
        with path.open(newline="") as f:
            rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SemimixError(f"cannot read {path} as a .csv file ({exc})") from None
    if rows and not all(is_number(cell) for cell in rows[0][1]):
        rows = rows[1:]  # the header
    if not rows:
        return np.empty((0, 0), dtype=np.float64)
    width = len(rows[0][1])
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise SemimixError(f"{path}, line {line}: {len(row)} values, but the first row has {width}; every row must have the same number of features")
        for j, cell in enumerate(row):
            if not is_number(cell):
                raise SemimixError(f"{path}, line {line}: {cell.strip()!r} is not a number; every value must be numeric (a header row may come first)")
            values[i, j] = float(cell)
    return values


def _rows(x: np.ndarray, path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """``x`` as samples of ``shape``: already so, or flat rows of as many features."""
    if x.dtype.kind not in "biuf":
        raise SemimixError(f"{path} holds {x.dtype} values, not numbers")
    if x.ndim == 0:
        raise SemimixError(f"{path} holds a single number, not samples; the run's model takes samples of shape {shape}")
    features = math.prod(shape)
    if len(x) and tuple(x.shape[1:]) != shape:
        if x.ndim != 2 or x.shape[1] != features:
            got = f"rows of {x.shape[1]} features" if x.ndim == 2 else f"samples of shape {tuple(x.shape[1:])}"
            hint = " (drop the label column)" if x.ndim == 2 and x.shape[1] == features + 1 else ""
            want = f"{features} features per row" + (f" or samples of shape {shape}" if len(shape) > 1 else "")
            raise SemimixError(f"{path} has {got}, but the run's model takes {want}{hint}")
        x = x.reshape(len(x), *shape)
    if len(x) and x.dtype.kind == "f" and not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise SemimixError(f"{path}: sample {row} has NaN or infinite values; predict only for complete samples")
    return x


def _images(paths: list[Path], model: TrainedModel) -> _Source:
    """Image files, decoded batch by batch to the run's channels; each must have its width and height."""
    shape = model.input_shape
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise SemimixError(f"{paths[0]}: the run's model takes inputs of shape {shape}, not images; give its inputs as .npz or .csv")
    if model.input_dtype != "uint8":
        raise SemimixError(
            f"{paths[0]}: the run's model was trained on {model.input_dtype} inputs (its dataset was converted when loaded), "
            "not 8-bit image pixels; give its inputs as .npz or .csv"
        )
    channels, height, width = shape
    size = (width, height) if model.resize_images else None  # the run resized its images while reading them: these alike

    def read(start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *shape), dtype=np.uint8)
        for i, path in enumerate(paths[start:stop]):
            image = read_image(path, size, mode="L" if channels == 1 else None)
            if image.shape[:2] != (height, width):
                h, w = image.shape[:2]
                raise SemimixError(f"image {path} is {w}x{h} pixels, but the run's model takes {width}x{height} images; resize it")
            out[i] = image.transpose(2, 0, 1) if image.ndim == 3 else image  # a grayscale image fills every channel
        return out

    return _Source([str(path) for path in paths], read)
