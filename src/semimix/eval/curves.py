"""A run's training curves as logged in ``metrics.csv`` (``semimix plot``), read without loading
its dataset or model.

The trainer writes one row per logged or evaluated step: ``step, lr, ramp``, the loss terms of
the method (``loss`` is their sum), then ``val_accuracy, val_nll``. Cells of rows that did not log
that quantity are empty; they read as NaN here.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semimix.errors import SemimixError
from semimix.files import load_yaml

NOT_PLOTTED = ("step", "ramp")  # the x axis, and the ramp (a fixed function of the step)
LAST_QUANTITIES = ("lr", "val_accuracy", "val_nll")  # after the loss terms, in this order


@dataclass
class RunCurves:
    """One run's logged columns (``columns[name]`` aligned with ``steps``, NaN where not logged)."""

    run_dir: Path
    method: str
    steps: np.ndarray
    columns: dict[str, np.ndarray]

    @property
    def label(self) -> str:
        return f"{self.run_dir.name} ({self.method})"

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(steps, values) where ``name`` was logged with a finite value, or None if never."""
        values = self.columns.get(name)
        if values is None:
            return None
        keep = np.isfinite(values)
        return (self.steps[keep], values[keep]) if keep.any() else None


def _number(cell: str, path: Path, line: int) -> float:
    if cell.strip() == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise SemimixError(f"{path}: line {line} holds {cell!r}, not a number; the file is damaged") from None


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """Every column of a ``metrics.csv`` as float arrays (NaN for empty cells)."""
    path = Path(path)
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise SemimixError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not rows or "step" not in rows[0]:
        raise SemimixError(f"{path}: no header with a 'step' column; the file is damaged")
    header = rows[0]
    body = [r for r in rows[1:] if r]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise SemimixError(f"{path}: line {line} has {len(row)} cells for {len(header)} columns; the file is damaged")
    return {name: np.array([_number(r[i], path, n) for n, r in enumerate(body, start=2)], dtype=np.float64) for i, name in enumerate(header)}


def load_curves(run_dir: str | Path) -> RunCurves:
    """A run directory's method (from ``config.yaml``) and metrics, checked to be a semimix run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SemimixError(f"run directory {run_dir}: no such directory; give the run directory that 'semimix train' printed")
    config, metrics = run_dir / "config.yaml", run_dir / "metrics.csv"
    if not config.exists():
        raise SemimixError(f"run directory {run_dir}: not a semimix run (needs config.yaml); give the directory that 'semimix train' printed")
    if not metrics.exists():
        raise SemimixError(f"run directory {run_dir}: no metrics.csv yet (nothing was logged); train it further or check the path")
    method = str((load_yaml(config) or {}).get("method", "unknown method"))
    columns = read_metrics(metrics)
    return RunCurves(run_dir, method, columns.pop("step"), columns)


def plotted_quantities(runs: list[RunCurves]) -> list[str]:
    """The panels to draw: every loss term any run logged (in first-seen order, ``loss`` first),
    then lr, validation accuracy and validation NLL; quantities no run has a value for are left out."""
    names: list[str] = []
    for run in runs:
        names += [n for n in run.columns if n not in names and n not in NOT_PLOTTED and n not in LAST_QUANTITIES]
    if "loss" in names:
        names.remove("loss")
        names.insert(0, "loss")
    names += list(LAST_QUANTITIES)
    return [n for n in names if any(run.series(n) is not None for run in runs)]
