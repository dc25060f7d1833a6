"""Opening a run directory again: to continue training it (``resume_trainer``) or to use what it
trained (``open_run``). What a directory holds decides what may happen, and a refusal changes nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from semimix import files
from semimix.errors import SemimixError
from semimix.files import load_yaml
from semimix.models import ModelSpec
from semimix.train.config import config_from_dict
from semimix.train.rundir import CHECKPOINT_DIR, CONFIG, LAST, SAVED, SUMMARY
from semimix.train.trainer import Trainer


def resume_trainer(run_dir: str | Path, steps: int | None = None, model: ModelSpec | None = None) -> Trainer:
    """The trainer of an interrupted run at its last checkpoint, ready to continue; ``run`` drops
    metric rows logged after it. A run stopped before its first checkpoint starts again at step 0
    (and says so); one whose checkpoint vanished after it was written, or one already finished, is
    refused with nothing changed. ``steps`` trains the run (finished or not) to that many steps
    instead: from its checkpoint on, the schedule and time constants follow the new length.
    ``model`` is the network of a run that trained one passed from Python."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists() and (run_dir / files.LOCK).exists():
        raise SemimixError(
            f"{run_dir} never started training (it was stopped before its first step completed): nothing to resume — "
            "start it again with the same 'semimix train' command (it may keep this --out)"
        )
    last = run_dir / CHECKPOINT_DIR / LAST
    if run_dir.is_dir() and (run_dir / CONFIG).exists():
        if steps is None and _finished_steps(run_dir) == load_yaml(run_dir / CONFIG).get("steps"):
            raise SemimixError(
                f"{run_dir} is finished ({_finished_steps(run_dir)} steps); nothing to resume and nothing was changed — its results are in "
                f"{SUMMARY} (to train it longer: semimix train --resume {run_dir} --steps N)"
            )
        if not last.exists() and ((run_dir / CHECKPOINT_DIR / SAVED).exists() or (run_dir / SUMMARY).exists()):
            raise SemimixError(
                f"{run_dir}: {CHECKPOINT_DIR}/{LAST} is missing although this run saved it; nothing was changed — "
                "restore the file to continue, or train again with another --out"
            )
        if not last.exists():
            _notice(f"{run_dir} was stopped before its first checkpoint: training it again from step 0")
    return open_run(run_dir, "--resume", started=True, steps=steps, model=model)


def open_run(run_dir: str | Path, what: str = "run directory", started: bool = False, steps: int | None = None, model: ModelSpec | None = None) -> Trainer:
    """A run's trainer (config, data split, models, optimiser) at its last checkpoint; writes nothing.
    ``started`` also accepts a run that has its config but no checkpoint yet; ``steps`` resumes it
    to train to that length (``resume_trainer``); ``model`` is the network a run trained from Python."""
    run_dir = Path(run_dir)
    config_path, ckpt_path = run_dir / CONFIG, run_dir / CHECKPOINT_DIR / LAST
    if not run_dir.is_dir():
        raise SemimixError(f"{what} {run_dir}: no such directory; give the run directory that 'semimix train' printed")
    if not config_path.exists() or not (started or ckpt_path.exists()):
        raise SemimixError(f"{what} {run_dir}: not a semimix run (needs {CONFIG} and {CHECKPOINT_DIR}/{LAST}); give the directory that 'semimix train' printed")
    cfg = config_from_dict(load_yaml(config_path))
    cfg.out = str(run_dir)
    if steps is not None:
        cfg.steps = steps
    trainer = Trainer(cfg, resuming=True, extend=steps is not None, model=model)
    trainer.load_last()
    return trainer


def _finished_steps(run_dir: Path) -> int | None:
    """The steps a finished run's summary reports, or None (no summary, or one a kill cut short)."""
    try:
        return int(json.loads((run_dir / SUMMARY).read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _notice(message: str) -> None:
    """Something the user should know that is not an error, on stderr (once per torchrun job)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"semimix: note: {message}", file=sys.stderr)
