"""The Python API behind the CLI: train from a config, resume, evaluate, attack, interpolation
paths, open a finished run or just its trained model and predict with it. Each CLI command calls
one of these and only formats what it returns; every function raises SemimixError (a ValueError)
for bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from semimix.errors import SemimixError
from semimix.models import ModelSpec
from semimix.runs import Run, load_model, load_run
from semimix.train.config import TrainConfig, config_from_dict, load_preset, merge
from semimix.train.resume import resume_trainer
from semimix.train.trainer import Trainer
from semimix.workflows.attack import attack_runs as attack
from semimix.workflows.evaluate import evaluate_run_dir as evaluate
from semimix.workflows.paths import interpolation_paths as paths

__all__ = ["Run", "attack", "evaluate", "load_config", "load_model", "load_run", "paths", "predict", "resume", "train"]


def load_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a bundled preset name or YAML path, with nested ``overrides`` on top."""
    values = load_preset(preset) if preset else {}
    return config_from_dict(merge(values, overrides))


def train(cfg: TrainConfig, until_step: int | None = None, model: ModelSpec | None = None) -> dict[str, Any]:
    """Train a run to completion and return its summary (also written to summary.json).

    ``until_step`` stops early with a checkpoint that ``resume`` continues from. ``model`` trains your
    own network instead of the config's: an ``nn.Module`` (trained in place) or a factory
    ``(input_shape, num_classes) -> nn.Module``; every method that works on inputs trains it, and the
    run needs it again to be resumed or opened (``resume``, ``load_model``, ``load_run`` take ``model=``).
    """
    trainer = Trainer(cfg, model=model)
    summary = trainer.run(until_step)
    return {**(summary or {"steps": trainer.step}), "run_dir": str(trainer.run_dir)}


def resume(run_dir: str | Path, progress: bool = True, steps: int | None = None, model: ModelSpec | None = None) -> dict[str, Any]:
    """Continue an interrupted run to its configured number of steps, or (``steps``) train a run,
    finished or not, to that many steps; its summary lists such ``extensions``. ``model``: the
    network of a run trained with ``train(model=...)``."""
    trainer = resume_trainer(run_dir, steps, model)
    trainer.cfg.progress = progress
    summary = trainer.run()
    return {**(summary or {}), "run_dir": str(trainer.run_dir)}


def predict(run: str | Path | Run, x: np.ndarray | torch.Tensor, checkpoint: str = "best") -> np.ndarray:
    """Class ids (0..C-1; ``run.data.class_names`` names them) that a run's model predicts for raw
    inputs ``x`` of the run's input shape, preprocessed as in training. ``run`` is a run directory
    (its model is opened with ``load_model``: no dataset is read) or an open ``Run``; to predict
    many times, open the model once with ``load_model`` and call its ``predict``."""
    if not isinstance(run, Run):
        return load_model(run, checkpoint).predict(x)
    x = torch.as_tensor(np.asarray(x))
    if tuple(x.shape[1:]) != run.data.input_shape:
        raise SemimixError(f"x has samples of shape {tuple(x.shape[1:])}, but the run's model takes {run.data.input_shape}; reshape x")
    return run.class_scores(run.logits(x)).argmax(dim=1).numpy()
