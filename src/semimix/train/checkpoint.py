"""What a checkpoint holds and how a run continues from it, bit for bit: weights, teacher,
optimiser, where each batch stream stands, method state, every rank's RNG states, the metrics row
in progress — and the settings and data it was trained with, so it never continues under others."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import yaml

from semimix.errors import SemimixError
from semimix.files import load_yaml
from semimix.train.config import upgrade_legacy_keys
from semimix.train.fingerprint import default_settings, differences, training_settings
from semimix.train.rundir import CONFIG

if TYPE_CHECKING:
    from semimix.train.trainer import Trainer


def capture(trainer: Trainer) -> dict[str, Any] | None:
    """The state to resume ``trainer`` from (on rank 0; None elsewhere). A collective: every rank
    calls it, since each rank's RNG states and loss sums travel (each draws its own augmentations and λ)."""
    dist = trainer.dist
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state(trainer.device) if trainer.device.type == "cuda" else cpu[:0]
    rng = [{"cpu": both[: len(cpu)], "cuda": both[len(cpu) :]} for both in dist.gather(torch.cat([cpu, cuda]))]
    loss_sums = trainer.losses.state()
    if not dist.is_main:
        return None
    return {
        "step": trainer.step,
        "student": trainer.student.state_dict(),
        "teacher": trainer.teacher.state_dict() if trainer.teacher is not None else None,
        "optimizer": trainer.optimizer.state_dict(),
        **trainer.batches.state_dict(),
        "method": trainer.method.state_dict(),
        "world_size": dist.world_size,
        "rng": rng,
        "best": trainer.best,
        "train_time": trainer.train_time,
        "skipped_steps": trainer.skipped_steps,
        "columns": trainer.columns,
        "extensions": trainer.extensions,
        "fingerprint": {"settings": training_settings(trainer.cfg), "data": trainer.data_digest},
        "loss_sums": loss_sums,
        "inference": trainer.inference,  # what predicting needs without the data (not read by restore)
        "precision": trainer.fast_path.precision,  # what precision: auto resolved to, kept by every later attempt
    }


def restore(trainer: Trainer, state: dict[str, Any]) -> None:
    """Continue ``trainer`` from ``state``, after checking it was trained with this run's settings,
    data and number of processes."""
    check_fingerprint(trainer, state.get("fingerprint"))
    dist = trainer.dist
    if state["world_size"] != dist.world_size:
        n = state["world_size"]
        raise SemimixError(
            f"{trainer.run_dir} was trained by {n} process(es) but is resumed by {dist.world_size}; "
            f"resume it with {n} (torchrun --nproc_per_node {n}, or --nproc {n})"
        )
    trainer.keep_precision(state.get("precision"))
    trainer.step = state["step"]
    trainer.student.load_state_dict(state["student"])
    if trainer.teacher is not None:
        trainer.teacher.load_state_dict(state["teacher"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.batches.load_state_dict(state)
    trainer.method.load_state_dict(state.get("method", {}))
    rng = state["rng"][dist.rank]
    torch.set_rng_state(rng["cpu"])
    if trainer.device.type == "cuda" and len(rng["cuda"]):
        torch.cuda.set_rng_state(rng["cuda"], trainer.device)
    trainer.best = state["best"]
    trainer.train_time = state["train_time"]
    trainer.skipped_steps = state["skipped_steps"]
    trainer.columns = state["columns"]
    trainer.extensions = list(state.get("extensions", []))
    saved_steps = state["fingerprint"]["settings"]["steps"] if "fingerprint" in state else trainer.cfg.steps
    if trainer.extend and trainer.step >= trainer.cfg.steps:
        raise SemimixError(f"{trainer.run_dir} is at step {trainer.step}; --steps {trainer.cfg.steps} would not train it further, give more steps")
    if trainer.extend and saved_steps != trainer.cfg.steps:
        trainer.extensions.append({"at_step": trainer.step, "from_steps": saved_steps, "to_steps": trainer.cfg.steps})
    trainer.losses.load_state(state["loss_sums"], dist.rank)


def check_fingerprint(trainer: Trainer, saved: dict[str, Any] | None) -> None:
    """The checkpoint must continue under the settings and data it was trained with: an edited
    config.yaml or a dataset that now splits otherwise would silently train a hybrid."""
    if saved is None:  # written before checkpoints carried one: config.yaml is all there is to go by
        return
    current = training_settings(trainer.cfg)
    if trainer.extend:
        current["steps"] = saved["settings"].get("steps")
    changed = differences(upgrade_legacy_keys(saved["settings"]), current, defaults=default_settings(trainer.cfg))
    run_dir = trainer.run_dir
    if changed:
        longer = f" (to train it longer: semimix train --resume {run_dir} --steps N)" if [c.split(":")[0] for c in changed] == ["steps"] else ""
        raise SemimixError(
            f"{run_dir}: config.yaml no longer matches the settings its checkpoint was trained with ({'; '.join(changed)}); "
            f"nothing was changed — undo the edit to continue this run, or train the new settings as a new run with another --out{longer}"
        )
    if saved["data"] != trainer.data_digest:
        raise SemimixError(
            f"{run_dir}: the data no longer matches what its checkpoint was trained on (other samples, labels or split); "
            "nothing was changed — point data.data_dir at the same dataset files, or train a new run"
        )


def continue_restarted(trainer: Trainer) -> None:
    """A new run never writes into an existing one, except when torchrun restarted this job after
    a worker failed: then the directory holds this very run (same config), which continues from
    its last checkpoint without a person."""
    run_dir = trainer.run_dir
    if not trainer.dist.restarted:
        raise SemimixError(f"{run_dir} already holds a run; choose another --out, or continue it with --resume {run_dir}")
    if load_yaml(run_dir / CONFIG) != yaml.safe_load(yaml.safe_dump(trainer.cfg.to_dict(), sort_keys=False)):
        raise SemimixError(f"torchrun restarted this job, but {run_dir} holds a run with another config; give this run its own --out")
    trainer.load_last()


def disk_bytes(trainer: Trainer) -> int:
    """About what checkpoints take on disk: last.pt (weights, teacher, optimiser slots, fitted
    preprocessing) twice while it is replaced, plus best.pt."""
    weights = sum(t.numel() * t.element_size() for t in trainer.student.state_dict().values())
    slots = 2 if trainer.cfg.optim.name == "adam" else int(trainer.cfg.optim.momentum > 0)
    last = weights * (1 + (trainer.teacher is not None) + slots)
    prep = trainer.data.preprocess  # its statistics travel in both checkpoints (ZCA: a D×D matrix)
    fitted = sum(t.numel() * t.element_size() for t in prep.buffers()) if prep is not None else 0
    return 2 * (last + fitted) + weights + fitted
