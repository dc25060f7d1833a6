"""The Python API behind the CLI: train from a config, resume a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semimix.train.config import TrainConfig, config_from_dict, load_yaml, merge, resolve_preset
from semimix.train.trainer import Trainer, resume_trainer


def load_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a bundled preset name or YAML path, with nested ``overrides`` on top."""
    values = load_yaml(resolve_preset(preset)) if preset else {}
    return config_from_dict(merge(values, overrides))


def train(cfg: TrainConfig, until_step: int | None = None) -> dict[str, Any]:
    """Train a run to completion and return its summary (also written to summary.json).

    ``until_step`` stops early with a checkpoint that ``resume`` continues from.
    """
    trainer = Trainer(cfg)
    summary = trainer.run(until_step)
    return {**(summary or {"steps": trainer.step}), "run_dir": str(trainer.run_dir)}


def resume(run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Continue an interrupted run to its configured number of steps."""
    trainer = resume_trainer(run_dir)
    trainer.cfg.progress = progress
    summary = trainer.run()
    return {**(summary or {}), "run_dir": str(trainer.run_dir)}
