"""Event files of a run's metrics rows for TensorBoard (``tensorboard --logdir runs``): the scalars
of metrics.csv under its column names, the step as x. metrics.csv stays the record; these are a view.

Rank 0 writes them as it writes the rows. An attempt that continues a run (resume, torchrun
restart) adds an event file whose first event tells TensorBoard to drop what earlier attempts
logged after the checkpoint it continues from (``purge_step``), so no step is shown twice; where no
event file exists yet (TensorBoard switched on or installed since), it first writes the rows
metrics.csv already holds."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semimix.errors import SemimixError
from semimix.eval.curves import read_metrics

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

EVENT_FILES = "events.out.tfevents.*"


def tensorboard_wanted(setting: bool | str) -> bool:
    """Whether a run writes event files: ``auto`` where TensorBoard's writer imports (the
    ``tensorboard`` package is installed), ``true`` only there (else an error), ``false`` never."""
    if setting is False:
        return False
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError as exc:
        if setting is True:
            raise SemimixError(
                f"tensorboard: true, but TensorBoard's writer cannot be imported ({exc}); pip install 'semimix[tensorboard]', or --set tensorboard=false"
            ) from None
        return False
    return True


class TensorBoardLog:
    """The event files in ``path`` of an attempt that continues from ``start_step`` (0: a new run),
    opened with its first rows, so an attempt refused before then leaves no file."""

    def __init__(self, path: Path, start_step: int, metrics: Path) -> None:
        self.path, self.start_step, self.metrics = path, start_step, metrics
        self._writer: SummaryWriter | None = None

    def write(self, rows: list[dict[str, Any]]) -> None:
        """The rows just appended to metrics.csv, flushed: TensorBoard shows them now, and a killed
        run loses none of the rows metrics.csv keeps."""
        writer = self._open()
        _add(writer, rows)
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open(self) -> SummaryWriter:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            earlier = any(self.path.glob(EVENT_FILES))
            _after_earlier_files(self.path)
            self._writer = SummaryWriter(str(self.path), purge_step=self.start_step + 1 if earlier else None)
            if not earlier and self.start_step > 0 and self.metrics.exists():
                _add(self._writer, _csv_rows(self.metrics, self.start_step))
        return self._writer


def _after_earlier_files(path: Path) -> None:
    """Wait, if need be, until the clock's second is past every event file's in ``path``. TensorBoard
    reads a run's files in name order, and a name is ``<10-digit second>.<host>.<pid>.<counter>``: an
    attempt opened in the same second by the same process (a resume in a notebook or a test) would
    sort by its counter as text ("10" before "9"), and the purge of the later attempt would come first."""
    seconds = [int(p.name.split(".")[3]) for p in path.glob(EVENT_FILES) if p.name.split(".")[3].isdigit()]
    while seconds and time.time() < max(seconds) + 1:
        time.sleep(0.05)


def _add(writer: SummaryWriter, rows: Iterable[dict[str, Any]]) -> None:
    """Each row's values as scalars at its step; metrics.csv's empty cells (NaN) are not events."""
    for row in rows:
        for name, value in row.items():
            if name != "step" and math.isfinite(value):
                writer.add_scalar(name, value, int(row["step"]))


def _csv_rows(metrics: Path, last_step: int) -> list[dict[str, Any]]:
    """metrics.csv's rows up to ``last_step`` (all of them after a resume truncated the file)."""
    columns = read_metrics(metrics)
    keep = columns["step"] <= last_step
    return [dict(zip(columns, values)) for values in zip(*(column[keep].tolist() for column in columns.values()))]
