"""A run's directory: what lives where, written so that a crash never leaves a half-written file,
and held by one process at a time. It appears with the first file worth keeping (after the first
step succeeded), so bad input never leaves an empty or half-made run behind."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from semimix import files
from semimix.errors import SemimixError
from semimix.files import load_yaml
from semimix.train.config import TrainConfig

CONFIG = "config.yaml"
SPLIT = "split.npz"
METRICS = "metrics.csv"
TENSORBOARD = "tensorboard"  # event files of metrics.csv's rows (semimix.train.tensorboard_log)
SUMMARY = "summary.json"
CHECKPOINT_DIR = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"
SAVED = ".saved"  # beside last.pt once the first one is in place: a run whose last.pt then vanishes is refused, not restarted


def default_run_dir(cfg: TrainConfig) -> Path:
    dataset = Path(cfg.data.dataset).stem if cfg.data.dataset.endswith((".npz", ".csv")) else cfg.data.dataset
    base = Path("runs") / f"{dataset}-{cfg.method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@contextmanager
def writing(path: Path, run_dir: Path) -> Iterator[None]:
    """A failed write (full disk, lost permission) as one line; atomic writes keep the old file."""
    try:
        yield
    except OSError as exc:
        raise SemimixError(
            f"cannot write {path} ({exc.strerror or exc}); the files already there are intact — free disk space or fix "
            f"permissions, then continue with: semimix train --resume {run_dir}"
        ) from None


class RunDir:
    """The files of one run; ``create`` writes its config and split, before its first other file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def checkpoint(self, name: str) -> Path:
        return self.path / CHECKPOINT_DIR / name

    @property
    def created(self) -> bool:
        return (self.path / CONFIG).exists()

    def create(self, config: dict[str, Any], split: dict[str, np.ndarray]) -> None:
        with writing(self.path, self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            if split:
                files.write_npz(self.path / SPLIT, split)
            files.write_yaml(self.path / CONFIG, config)

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        """``last.pt`` or ``best.pt``; the first ``last.pt`` also leaves the SAVED marker."""
        path = self.checkpoint(name)
        with writing(path, self.path):
            files.save_torch(path, state)
            if name == LAST and not self.checkpoint(SAVED).exists():
                files.write_text(self.checkpoint(SAVED), "")

    def append_metrics(self, columns: list[str], rows: list[dict[str, Any]]) -> None:
        path = self.path / METRICS
        new = not path.exists()
        with writing(path, self.path), path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerows(rows)

    def write_summary(self, summary: dict[str, Any]) -> None:
        with writing(self.path / SUMMARY, self.path):
            files.write_json(self.path / SUMMARY, summary)

    def record_new_length(self, steps: int) -> None:
        """A run trained longer: config.yaml states its new length (its next checkpoints carry it),
        and the summary of the shorter run goes."""
        with writing(self.path / CONFIG, self.path):
            values = load_yaml(self.path / CONFIG)
            values["steps"] = steps
            files.write_yaml(self.path / CONFIG, values)
            (self.path / SUMMARY).unlink(missing_ok=True)

    @contextmanager
    def owned(self, step: int, needed_bytes: int, lock_wait_s: float = 0.0) -> Iterator[None]:
        """Hold the directory's lock, after checking it can be written with room for
        ``needed_bytes`` (before the first step, not at the first checkpoint), and drop what a killed
        run left after the checkpoint at ``step`` it continues from: temp files, metric rows. A
        directory created here but never filled goes again."""
        created, lock = not self.path.exists(), None
        try:
            files.check_writable(self.path, needed_bytes)
            lock = files.lock_run_dir(self.path, wait_s=lock_wait_s)
            files.remove_stale_temps(self.path)
            with writing(self.path / METRICS, self.path):
                _truncate_metrics(self.path / METRICS, step)
            yield
        finally:
            if lock is not None:
                os.close(lock)
            left = [p.name for p in self.path.iterdir()] if created and self.path.is_dir() else None
            if left == [] or (lock is not None and left == [files.LOCK]):
                (self.path / files.LOCK).unlink(missing_ok=True)
                self.path.rmdir()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric rows logged after the checkpoint we resume from, so no step appears twice."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if len(r) == len(rows[0]) and int(r[0]) <= step]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(kept)
    files.write_text(path, text.getvalue())
