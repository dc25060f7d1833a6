"""A finished (or interrupted) run as an object: its config, the same data split, the trained
model at a chosen checkpoint, and its summary — what evaluation, attacks and figures start from
(``load_run``); or just its trained model, to predict with, from the checkpoint alone (``load_model``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semimix import files
from semimix.data.bundle import DataBundle, Inputs
from semimix.errors import SemimixError
from semimix.eval import evaluate, predict_logits
from semimix.eval.settings import SPLITS
from semimix.models import ModelSpec
from semimix.train.config import TrainConfig
from semimix.train.hardware import resolve_device
from semimix.train.inference import BATCH_SIZE, TrainedModel, trained_model
from semimix.train.resume import open_run
from semimix.train.rundir import BEST, CHECKPOINT_DIR, CONFIG, LAST
from semimix.train.trainer import Trainer

CHECKPOINTS = ("best", "last")
HELD_OUT = ("val", "test")
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
        """The held-out splits this run's data really have (a user's file may have neither)."""
        return [name for name in HELD_OUT if len(getattr(self.data, f"x_{name}"))]

    def split(self, name: str) -> tuple[Inputs, torch.Tensor]:
        """Raw inputs and labels of the ``val`` or ``test`` split (image files, for a streamed folder)."""
        if name not in HELD_OUT:
            raise SemimixError(f"split must be val or test, got {name!r}")
        if name not in self.splits:
            way_out = (
                f"; choose --split {self.splits[0]}"
                if self.splits
                else ", nor any other to evaluate on; train with data.test_size set, or with X_test, y_test in the .npz"
            )
            raise SemimixError(f"{self.run_dir}: the run's dataset has no {name} split{way_out}")
        return getattr(self.data, f"x_{name}"), getattr(self.data, f"y_{name}")

    def samples(self, name: str) -> tuple[Inputs, torch.Tensor]:
        """Raw inputs and labels of any split to evaluate on (``semimix.eval.settings.SPLITS``): ``val`` and
        ``test`` as ``split``, or the training samples before augmentation, ``labeled`` or ``unlabeled``
        (their true labels, where the dataset knows them)."""
        if name in HELD_OUT:
            return self.split(name)
        if name == "labeled":
            return self.data.x_labeled, self.data.y_labeled
        if name != "unlabeled":
            raise SemimixError(f"split must be one of {', '.join(SPLITS)}, got {name!r}")
        if self.data.y_unlabeled_true is None or not len(self.data.x_unlabeled):
            lack = "have no known labels" if len(self.data.x_unlabeled) else "are none"
            raise SemimixError(f"{self.run_dir}: the run's unlabeled samples {lack}; choose another --split")
        return self.data.x_unlabeled, self.data.y_unlabeled_true

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Raw inputs → the model's input units (where ε of attacks is measured), on the model's device."""
        x = x.to(self.trainer.device).float()
        prep = self.data.preprocess
        return prep.to(self.trainer.device)(x) if prep is not None else x

    def class_scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """Per-class scores (logits for every method but negative-cosine ones)."""
        return outputs if self.trainer.class_scores is None else self.trainer.class_scores(outputs)

    def logits(self, x: Inputs) -> torch.Tensor:
        return predict_logits(self.model, x, self.data.preprocess)

    def evaluate(self, split: str = "test") -> dict[str, float]:
        x, y = self.samples(split)
        return evaluate(self.model, x, y, self.data.preprocess, self.trainer.class_scores)


def load_run(run_dir: str | Path, checkpoint: str = "best", model: ModelSpec | None = None) -> Run:
    """Open a run directory read-only: rebuild its data split from the config (checked against the
    saved ``split.npz``) and load the ``best``-on-validation or ``last`` evaluated model. ``best``
    of a run without a validation split opens its final weights, as ``Run.checkpoint`` says (FINAL).
    ``model`` is the network of a run that trained one passed from Python (its config says ``python:...``)."""
    if checkpoint not in CHECKPOINTS:
        raise SemimixError(f"checkpoint must be best or last, got {checkpoint!r}")
    trainer = open_run(run_dir, model=model)
    _check_split(trainer)
    if checkpoint == "best" and not (trainer.run_dir / CHECKPOINT_DIR / BEST).exists():
        checkpoint = _without_best(trainer.run_dir, len(trainer.data.x_val) > 0, trainer.best["step"])
    model = trainer.best_model() if checkpoint == "best" else trainer.eval_model
    return Run(trainer, model.eval(), checkpoint)


def load_model(
    run_dir: str | Path, checkpoint: str = "best", device: str | torch.device = "auto", batch_size: int = BATCH_SIZE, model: ModelSpec | None = None
) -> TrainedModel:
    """A run's trained model, ready to predict (``TrainedModel``), from its checkpoint alone: the
    ``best``-on-validation weights, or the ``last`` evaluated ones (the EMA teacher's where the run
    evaluates it); ``best`` of a run without a validation split is its final weights (FINAL). Reads
    neither the dataset nor config.yaml, and leaves torch's RNG and thread count as they were.
    A run trained before checkpoints carried their ``"inference"`` entry is opened with ``load_run``
    (which reloads its dataset), with a note on stderr. A run that trained a network passed from
    Python needs it again as ``model`` (an nn.Module, whose weights are loaded in place, or its factory)."""
    if checkpoint not in CHECKPOINTS:
        raise SemimixError(f"checkpoint must be best or last, got {checkpoint!r}")
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINT_DIR
    if not run_dir.is_dir():
        raise SemimixError(f"run directory {run_dir}: no such directory; give the directory that 'semimix train' printed")
    if checkpoint == "best" and (folder / BEST).exists():
        state = files.load_torch(folder / BEST)
        entry = state.get("inference") or _entry_of_last(folder)
        if entry is not None:
            return trained_model(entry, state["model"], "best", device, run_dir, batch_size, model)
        return _from_run(run_dir, checkpoint, device, batch_size)
    if not (folder / LAST).exists():
        needs = f"{CONFIG} and {CHECKPOINT_DIR}/{LAST}"
        raise SemimixError(f"run directory {run_dir}: not a semimix run (needs {needs}); give the directory that 'semimix train' printed")
    state = files.load_torch(folder / LAST)
    entry = state.get("inference")
    if entry is None:
        return _from_run(run_dir, checkpoint, device, batch_size)
    if checkpoint == "best":
        checkpoint = _without_best(run_dir, entry["has_val_split"], state["best"]["step"])
    weights = state["teacher"] if entry["eval_model"] == "teacher" and state["teacher"] is not None else state["student"]
    return trained_model(entry, weights, checkpoint, device, run_dir, batch_size, model)


def _entry_of_last(folder: Path) -> dict[str, Any] | None:
    """The inference entry of last.pt, for a best.pt written before checkpoints carried one (a run
    trained on after an upgrade): the model and preprocessing never change within a run."""
    return files.load_torch(folder / LAST).get("inference") if (folder / LAST).exists() else None


def _from_run(run_dir: Path, checkpoint: str, device: str | torch.device, batch_size: int) -> TrainedModel:
    """``load_model`` of a run whose checkpoints predate the inference entry: through ``load_run``,
    which rebuilds its dataset; torch's RNG state and thread count are put back afterwards."""
    print(f"semimix: note: {run_dir} was trained before checkpoints kept the preprocessing; reloading its dataset to rebuild it", file=sys.stderr)
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):  # load_run seeds them all
            run = load_run(run_dir, checkpoint)
    finally:
        torch.set_num_threads(threads)
    return TrainedModel(
        run.model,
        run.data.preprocess,
        run.trainer.class_scores,
        run.data.num_classes,
        list(run.data.class_names),
        run.data.input_shape,
        run.checkpoint,
        device if isinstance(device, torch.device) else resolve_device(device),
        run_dir=run_dir,
        input_dtype=str(run.data.x_labeled.dtype).removeprefix("torch."),
        batch_size=batch_size,
    )


def _without_best(run_dir: Path, has_val_split: bool, best_step: int) -> str:
    """What ``best`` opens when there is no best.pt: FINAL for a run without a validation split;
    a run with one lost its best.pt (or stopped before it first validated), and its last weights
    must not pass for the best ones."""
    if not has_val_split:
        return FINAL
    last = "use the last weights (--checkpoint last, checkpoint='last')"
    if not best_step:
        raise SemimixError(f"{run_dir} has no best-on-validation checkpoint yet (it stopped before its first validation); {last} or resume the run")
    path = run_dir / CHECKPOINT_DIR / BEST
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
