"""What a checkpoint was trained with, so that resuming it under anything else is refused.

A checkpoint stores the training settings and a digest of the data it saw. On resume the run's
``config.yaml`` and data must give the same, except for settings that say how a run is executed
rather than what it trains (``RUNTIME_KEYS``): those may change between attempts (another device,
another machine's data folder)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np
import torch
import yaml

from semimix.data.bundle import DataBundle
from semimix.train.config import TrainConfig

# Settings that change how a run executes or is watched but not what it computes (checkpoints change
# nothing, the data digest guards the data's content wherever its files live, event files only mirror
# metrics.csv, whose row cadence log_every sets).
RUNTIME_KEYS = ("out", "progress", "tensorboard", "log_every", "device", "threads", "checkpoint_every", "data.data_dir")


def training_settings(cfg: TrainConfig) -> dict[str, Any]:
    """What decides a run's numbers: the config as plain YAML values (as config.yaml holds them)
    without the runtime keys, and of ``method_params`` only the run's own method's with its defaults
    filled in (a preset lists several methods'; another method's entry, or a default set explicitly,
    changes nothing, while a default that changed between versions does)."""
    from semimix.methods import build_method

    values = yaml.safe_load(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    values["method_params"] = yaml.safe_load(yaml.safe_dump(dataclasses.asdict(build_method(cfg.method, cfg.params_for_method()).params)))
    for key in RUNTIME_KEYS:
        *sections, name = key.split(".")
        node = values
        for section in sections:
            node = node[section]
        node.pop(name, None)
    return values


def data_digest(data: DataBundle) -> str:
    """A digest of which samples the run trains, validates and tests on and of their labels:
    the split indices, every label tensor, the input shape and the in-memory labeled inputs."""
    h = hashlib.sha256(f"{data.num_classes}|{data.input_shape}|{len(data.x_unlabeled)}".encode())
    for name in sorted(data.split):
        h.update(name.encode())
        h.update(np.ascontiguousarray(data.split[name]).tobytes())
    for tensor in (data.y_labeled, data.y_val, data.y_test, data.x_labeled):
        if isinstance(tensor, torch.Tensor):
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def default_settings(cfg: TrainConfig) -> dict[str, Any]:
    """``training_settings`` of a config that sets nothing but ``cfg``'s method: every key at its default."""
    return training_settings(TrainConfig(method=cfg.method))


def differences(saved: Any, current: Any, prefix: str = "", defaults: Any = None) -> list[str]:
    """Each key whose value differs, as ``key: saved → current`` (nested sections dotted). A key the
    saved settings lack — a setting added to semimix after they were written — counts only where its
    current value is not its default in ``defaults``: a new setting's default keeps what runs did before."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        defaults = defaults if isinstance(defaults, dict) else {}
        for key in [*saved, *(k for k in current if k not in saved)]:
            if key not in saved and key in defaults and current[key] == defaults[key]:
                continue
            out += differences(saved.get(key, "(absent)"), current.get(key, "(absent)"), f"{prefix}{key}.", defaults.get(key))
        return out
    return [] if saved == current else [f"{prefix.rstrip('.')}: {saved!r} → {current!r}"]
