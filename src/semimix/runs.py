"""A finished (or interrupted) run as an object: its config, the same data split, the trained
model at a chosen checkpoint, and its summary — what evaluation, attacks and figures start from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semimix.data.bundle import DataBundle
from semimix.errors import SemimixError
from semimix.eval import evaluate, predict_logits
from semimix.train.config import TrainConfig
from semimix.train.resume import open_run
from semimix.train.rundir import BEST, CHECKPOINT_DIR
from semimix.train.trainer import Trainer

CHECKPOINTS = ("best", "last")
SPLITS = ("val", "test")
# What asking for "best" opens in a run without a validation split: there never was a best.pt, and
# the final weights are the model the run reports; named so that nothing labels them "best".
FINAL = "final"


@dataclass
class Run:
    """``model`` is in eval mode on ``trainer.device``; ``trainer`` holds the rest of the run.
    ``checkpoint`` names the weights ``model`` holds: ``best``, ``last`` or ``final`` (see FINAL)."""

    trainer: Trainer
    model: torch.nn.Module
    checkpoint: str

    @property
    def run_dir(self) -> Path:
        return self.trainer.run_dir

    @property
    def config(self) -> TrainConfig:
        return self.trainer.cfg

    @property
    def data(self) -> DataBundle:
        return self.trainer.data

    @property
    def summary(self) -> dict[str, Any] | None:
        path = self.run_dir / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def splits(self) -> list[str]:
        """The evaluation splits this run's data really have (a user's file may have neither)."""
        return [name for name in SPLITS if len(getattr(self.data, f"x_{name}"))]

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw inputs and labels of the ``val`` or ``test`` split."""
        if name not in SPLITS:
            raise SemimixError(f"split must be val or test, got {name!r}")
        if name not in self.splits:
            way_out = (
                f"; choose --split {self.splits[0]}"
                if self.splits
                else ", nor any other to evaluate on; train with data.test_size set, or with X_test, y_test in the .npz"
            )
            raise SemimixError(f"{self.run_dir}: the run's dataset has no {name} split{way_out}")
        return getattr(self.data, f"x_{name}"), getattr(self.data, f"y_{name}")

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs → the model's input units (where ε of attacks is measured), on the model's device."""
        x = x.to(self.trainer.device).float()
        prep = self.data.preprocess
        return prep.to(self.trainer.device)(x) if prep is not None else x

    def class_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-class scores (logits for every method but negative-cosine ones)."""
        return outputs if self.trainer.class_scores is None else self.trainer.class_scores(outputs)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return predict_logits(self.model, x, self.data.preprocess)

    def evaluate(self, split: str = "test") -> dict[str, float]:
        x, y = self.split(split)
        return evaluate(self.model, x, y, self.data.preprocess, self.trainer.class_scores)


def load_run(run_dir: str | Path, checkpoint: str = "best") -> Run:
    """Open a run directory read-only: rebuild its data split from the config (checked against the
    saved ``split.npz``) and load the ``best``-on-validation or ``last`` evaluated model. ``best``
    of a run without a validation split opens its final weights, as ``Run.checkpoint`` says (FINAL)."""
    if checkpoint not in CHECKPOINTS:
        raise SemimixError(f"checkpoint must be best or last, got {checkpoint!r}")
    trainer = open_run(run_dir)
    _check_split(trainer)
    if checkpoint == "best" and not (trainer.run_dir / CHECKPOINT_DIR / BEST).exists():
        checkpoint = _without_best(trainer)
    model = trainer.best_model() if checkpoint == "best" else trainer.eval_model
    return Run(trainer, model.eval(), checkpoint)


def _without_best(trainer: Trainer) -> str:
    """What ``best`` opens when there is no best.pt: FINAL for a run without a validation split;
    a run with one lost its best.pt (or stopped before it first validated), and its last weights
    must not pass for the best ones."""
    if len(trainer.data.x_val) == 0:
        return FINAL
    last = "use the last weights (--checkpoint last, checkpoint='last')"
    if not trainer.best["step"]:
        raise SemimixError(f"{trainer.run_dir} has no best-on-validation checkpoint yet (it stopped before its first validation); {last} or resume the run")
    path = trainer.run_dir / CHECKPOINT_DIR / BEST
    raise SemimixError(f"{path} is missing: this run has a validation split, so its best-on-validation weights belong there; {last} or restore best.pt")


def _check_split(trainer: Trainer) -> None:
    """The data must split exactly as when the run trained, or every metric would be on other samples."""
    path = trainer.run_dir / "split.npz"
    if not path.exists() or not trainer.data.split:
        return
    with np.load(path) as saved:
        same = set(saved.files) == set(trainer.data.split) and all(np.array_equal(saved[k], trainer.data.split[k]) for k in saved.files)
    if not same:
        raise SemimixError(
            f"{trainer.run_dir}: the dataset no longer splits as it did for this run (split.npz differs); "
            "were the dataset files or the semimix version changed?"
        )
