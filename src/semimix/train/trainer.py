"""The one method-agnostic training loop: streams, optimiser, schedules, EMA teacher, evaluation,
checkpoints and exact resume. Methods only say what their loss is."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

import semimix
from semimix import files
from semimix.data import load_dataset
from semimix.data.augment import Augmenter, StrongAugmenter
from semimix.data.bundle import DataBundle
from semimix.data.streaming import FileImages, decode_batches
from semimix.errors import SemimixError
from semimix.eval import evaluate
from semimix.methods import Batch, StepContext, build_method, canonical_method_name
from semimix.models import build_model, resolve_model_name
from semimix.ops import keep_own_statistics
from semimix.train import distributed, hardware
from semimix.train.budget import batchnorm_momenta, scale_batchnorm, time_constants
from semimix.train.config import AugmentConfig, TrainConfig, config_from_dict, load_yaml, validate_config
from semimix.train.ema import ema_update, make_teacher
from semimix.train.fingerprint import data_digest, differences, training_settings
from semimix.train.optim import DecoupledDecay, make_optimizer
from semimix.train.schedules import lr_factor, ramp_factor
from semimix.train.streams import IndexStream

CHECKPOINT_DIR = "checkpoints"
INPUTS = {"labeled": "x_labeled", "second_labeled": "x_labeled", "unlabeled": "x_unlabeled"}  # each stream's input rows
LAST = "last.pt"
BEST = "best.pt"
SAVED = ".saved"  # beside last.pt once the first one is in place: a run whose last.pt then vanishes is refused, not restarted
SUMMARY = "summary.json"
RESTART_LOCK_WAIT_S = 30.0  # how long a torchrun-restarted run waits for its killed predecessor's lock


class TrainingStopped(KeyboardInterrupt):
    """SIGTERM or Ctrl-C ended training cleanly after a checkpoint; ``signum`` says which."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SemimixError(f"device {name!r} asked for, but this machine has no CUDA GPU visible to PyTorch; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise SemimixError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def default_run_dir(cfg: TrainConfig) -> Path:
    dataset = Path(cfg.data.dataset).stem if cfg.data.dataset.endswith((".npz", ".csv")) else cfg.data.dataset
    base = Path("runs") / f"{dataset}-{cfg.method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class Trainer:
    """Builds a run from a config (validating everything before any file is written) and trains it."""

    def __init__(self, cfg: TrainConfig, data: DataBundle | None = None, resuming: bool = False, extend: bool = False) -> None:
        validate_config(cfg)  # checked when it was built, but a config is mutable
        cfg.method = canonical_method_name(cfg.method)
        self.cfg = cfg
        self.dist, self.device = distributed.setup(resolve_device(cfg.device))
        self.method = build_method(cfg.method, cfg.params_for_method())
        self.time = time_constants(cfg)  # the schedule, EMA and BN horizons this run's budget gets
        self.schedule = dataclasses.replace(cfg.schedule, milestones=list(self.time.milestones), warmup_steps=self.time.warmup_steps)
        _check_faults_and_scale(cfg, self.dist, self.device)
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.data = data if data is not None else load_dataset(cfg.data, cfg.seed)
        self.data_digest = data_digest(self.data)
        self.extend = extend  # resumed to train longer than its checkpoint's run (``resume_trainer(steps=)``): only ``steps`` may differ
        self.extensions: list[dict[str, int]] = []
        if self.method.unlabeled == "required" and len(self.data.x_unlabeled) == 0:
            raise SemimixError(f"method {cfg.method!r} needs unlabeled samples, but {self.data.name} has none; use 'supervised' or add unlabeled data")
        self.model_name = resolve_model_name(cfg.model, self.data.input_shape)
        self.student = self._build_model().to(self.device)
        scale_batchnorm(self.student, self.time.bn_horizon_scale)
        if cfg.sync_batchnorm and self.dist.active:
            self.student = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.student)
        if self.dist.rank > 0:  # the same initial weights everywhere, then each rank's own augmentations and λ
            torch.manual_seed(cfg.seed + 1_000_003 * self.dist.rank)
        # A teacher only makes targets for unlabeled data (or is the EMA model MixMatch/FixMatch
        # evaluate): supervised use of the mixup family needs none.
        method_teacher = (self.method.needs_teacher or self.method.evaluates_ema) and len(self.data.x_unlabeled) > 0
        self.teacher = make_teacher(self.student) if method_teacher or cfg.eval_model == "teacher" else None
        if self.teacher is not None and cfg.teacher_batchnorm == "own":
            keep_own_statistics(self.teacher)
        if cfg.compile:
            for model in (self.student, self.teacher):
                if model is not None:
                    model.compile()
        self.eval_name = "teacher" if (cfg.eval_model == "teacher" or (cfg.eval_model == "auto" and method_teacher)) else "student"
        self.optimizer = make_optimizer(self.student, cfg.optim)
        self.decoupled_decay = DecoupledDecay(self.student, cfg.optim)
        augment = Augmenter(cfg.augment.flip, cfg.augment.translate, cfg.augment.noise, self.data.input_shape, cfg.augment.pad_mode)
        preprocess = self.data.preprocess.to(self.device) if self.data.preprocess is not None else None
        self.view = _compose_view(augment, preprocess)
        self.strong_view = _compose_view(_strong_augment(augment, cfg.augment, self.data), preprocess) if self.method.needs_strong_view else self.view
        # In-memory inputs live on the device and batches are indexed there; image files
        # (FileImages, a streamed folder) are decoded by a DataLoader's workers, see _next_batch.
        self.tensors = {
            name: getattr(self.data, name).to(self.device)
            for name in ("x_labeled", "y_labeled", "x_unlabeled")
            if not isinstance(getattr(self.data, name), FileImages)
        }
        self._decoded: Iterator[dict[str, torch.Tensor]] | None = None
        self.labeled_stream = IndexStream(len(self.data.x_labeled), cfg.labeled_batch_size, cfg.seed * 1000 + 1)
        self.unlabeled_stream = (
            IndexStream(len(self.data.x_unlabeled), cfg.unlabeled_batch_size, cfg.seed * 1000 + 2)
            if self.method.unlabeled != "unused" and len(self.data.x_unlabeled) > 0
            else None
        )
        self.second_labeled_stream = (
            IndexStream(len(self.data.x_labeled), cfg.labeled_batch_size, cfg.seed * 1000 + 3) if self.method.needs_second_labeled_batch else None
        )
        streams = {"labeled": self.labeled_stream, "second_labeled": self.second_labeled_stream, "unlabeled": self.unlabeled_stream}
        self.streams = {name: stream for name, stream in streams.items() if stream is not None}
        self.streamed = any(isinstance(getattr(self.data, INPUTS[name]), FileImages) for name in self.streams)
        self.class_scores = None if self.method.scores_are_logits else partial(self.method.class_scores, num_classes=self.data.num_classes)
        self.run_dir = Path(cfg.out) if cfg.out else Path(self.dist.broadcast_object(str(default_run_dir(cfg))))
        self.step = 0
        self.best = {"val_accuracy": -math.inf, "step": 0}
        self.train_time = 0.0
        self.columns: list[str] | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._first_nonfinite: torch.Tensor | None = None  # per loss term: the first step it was NaN/Inf, or -1
        self.skipped_steps = 0
        self._signal: int | None = None
        if not resuming and (self.run_dir / "config.yaml").exists():
            self._continue_restarted_run()
        self.dist.barrier()  # every rank has looked at the run directory before rank 0 writes to it

    def _build_model(self) -> torch.nn.Module:
        outputs = self.method.output_dim(self.data.num_classes)
        return build_model(self.model_name, self.data.input_shape, outputs, **self.cfg.model_params)

    def _continue_restarted_run(self) -> None:
        """A new run never writes into an existing one, except when torchrun restarted this job after
        a worker failed: then the directory holds this very run (same config), which continues from
        its last checkpoint without a person."""
        if not self.dist.restarted:
            raise SemimixError(f"{self.run_dir} already holds a run; choose another --out, or continue it with --resume {self.run_dir}")
        if load_yaml(self.run_dir / "config.yaml") != yaml.safe_load(yaml.safe_dump(self.cfg.to_dict(), sort_keys=False)):
            raise SemimixError(f"torchrun restarted this job, but {self.run_dir} holds a run with another config; give this run its own --out")
        self.load_last()

    def load_last(self) -> None:
        """Continue from ``checkpoints/last.pt``; a run killed before its first checkpoint starts again at step 0."""
        path = self.run_dir / CHECKPOINT_DIR / LAST
        if path.exists():
            self.load_checkpoint(files.load_torch(path))

    def best_model(self) -> torch.nn.Module:
        """The best-on-validation weights (the evaluated model itself when there was no validation)."""
        best_path = self.run_dir / CHECKPOINT_DIR / BEST
        if not best_path.exists():
            return self.eval_model
        model = self._build_model().to(self.device)
        model.load_state_dict(files.load_torch(best_path)["model"])
        return model

    def _evaluate(self, model: torch.nn.Module, x: torch.Tensor | FileImages, y: torch.Tensor) -> dict[str, float]:
        """Accuracy and NLL; under torchrun each rank evaluates its slice and the sums are reduced."""
        if not self.dist.active:
            return evaluate(model, x, y, self.data.preprocess, self.class_scores)
        lo, hi = (len(x) * self.dist.rank) // self.dist.world_size, (len(x) * (self.dist.rank + 1)) // self.dist.world_size
        part = x[lo:hi] if isinstance(x, torch.Tensor) else x.subset(slice(lo, hi))
        n = hi - lo
        result = evaluate(model, part, y[lo:hi], self.data.preprocess, self.class_scores) if n else {"accuracy": 0.0, "nll": 0.0}
        correct, nll, total = self.dist.sum([round(result["accuracy"] * n), result["nll"] * n, n])
        return {"accuracy": correct / total, "nll": nll / total} if total else {"accuracy": math.nan, "nll": math.nan}

    # ----------------------------------------------------------------------------- the step
    @property
    def eval_model(self) -> torch.nn.Module:
        return self.teacher if self.eval_name == "teacher" and self.teacher is not None else self.student

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A host tensor (the step's indices) on the training device: on CUDA copied from pinned
        memory without blocking the host (stream-ordered, so the step's kernels still see it); as is elsewhere."""
        if self.device.type == "cuda" and t.device.type == "cpu":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)

    def _next_batch(self) -> Batch:
        if self.streamed and self._decoded is None:  # (re)started where the streams stand: after a resume, where the run stopped
            sources = {name: getattr(self.data, INPUTS[name]) for name in self.streams}
            self._decoded = decode_batches(sources, _drawn_ahead(self.streams, self.dist.shard), self.device)
        idx = {name: self._to_device(self.dist.shard(stream.next())) for name, stream in self.streams.items()}
        if self.streamed:
            assert self._decoded is not None  # started above
            x = next(self._decoded)
        else:
            x = {name: self.tensors[INPUTS[name]][i] for name, i in idx.items()}
        y = self.tensors["y_labeled"]
        batch = Batch(x["labeled"], y[idx["labeled"]])
        if "second_labeled" in idx:
            batch.x_l2, batch.y_l2 = x["second_labeled"], y[idx["second_labeled"]]
        if "unlabeled" in idx:
            batch.x_u, batch.idx_u = x["unlabeled"], idx["unlabeled"]
        return batch

    def train_step(self) -> None:
        cfg = self.cfg
        lr = cfg.optim.lr * lr_factor(self.step, self.time.schedule_steps, self.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        ramp = ramp_factor(self.step, self.time.schedule_steps, cfg.rampup)
        self.student.train()
        if self.teacher is not None:
            self.teacher.train()
        ctx = StepContext(
            self.student,
            self.teacher,
            self.data.num_classes,
            self.step,
            ramp,
            self.view,
            lr,
            strong_augment=self.strong_view,
            num_unlabeled=len(self.data.x_unlabeled),
        )
        sample_state = {k: v.clone() for k, v in self.method.state_dict().items()} if self.dist.active else {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            terms = self.method.losses(self._next_batch(), ctx)
        values = torch.stack(list(terms.values()))
        total = values.sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        # Which terms were NaN/Inf on any rank: summed with the gradients, read only when logging
        # or checkpointing (or, with nonfinite=skip, now: skipping needs the answer before the update).
        nonfinite = self.dist.average_gradients(list(self.student.parameters()), (~torch.isfinite(values.detach())).float())
        self._sums_names = ["loss", *terms]
        if cfg.nonfinite == "skip" and bool(nonfinite.any()):
            self.skipped_steps += 1
        else:
            self._apply_update(nonfinite, sample_state)
            with torch.no_grad():  # accumulate on the device; read only when logged
                for name, value in {"loss": total, **terms}.items():
                    self._sums[name] = self._sums.get(name, 0) + value.detach()
            self._count += 1
        self.step += 1
        self._last_lr, self._last_ramp = lr, ramp

    def _apply_update(self, nonfinite: torch.Tensor, sample_state: dict[str, torch.Tensor]) -> None:
        """Optimiser step, then what keeps every rank identical: rank 0's BatchNorm statistics, the
        merged per-sample method state, and the EMA teacher (of identical weights, so identical)."""
        self.optimizer.step()
        self.decoupled_decay.step(self.optimizer.param_groups[0]["lr"])
        if not self.cfg.sync_batchnorm:
            self.dist.broadcast_buffers(self.student)
        if self.dist.active and self.method.state_dict():
            self.method.load_state_dict(self.dist.merge_sample_state(sample_state, self.method.state_dict(), len(self.data.x_unlabeled)))
        if self.teacher is not None:
            ema_update(self.teacher, self.student, self.time.ema_decay, self.step, copy_buffers=self.cfg.teacher_batchnorm == "student")
            if self.cfg.teacher_batchnorm == "own" and not self.cfg.sync_batchnorm:
                self.dist.broadcast_buffers(self.teacher)
        if self._first_nonfinite is None or len(self._first_nonfinite) != len(nonfinite):
            self._first_nonfinite = torch.full(nonfinite.shape, -1, dtype=torch.long, device=nonfinite.device)
        first = (nonfinite > 0) & (self._first_nonfinite < 0)
        self._first_nonfinite = torch.where(first, self.step + 1, self._first_nonfinite)

    # ----------------------------------------------------------------------------- the loop
    def run(self, until_step: int | None = None) -> dict[str, Any] | None:
        """Train to ``cfg.steps`` (or stop after ``until_step`` with a checkpoint) and return the summary.

        SIGTERM or Ctrl-C lets the step in progress finish, saves a checkpoint and raises
        ``TrainingStopped``; a second one stops at once, keeping the last checkpoint.
        """
        cfg = self.cfg
        stop = min(cfg.steps, until_step) if until_step is not None else cfg.steps
        every = cfg.checkpoint_every or cfg.eval_every
        with self._owned_run_dir(), _stop_signals(self._request_stop):
            bar = tqdm(
                total=cfg.steps,
                initial=self.step,
                disable=not (cfg.progress and self.dist.is_main),
                desc=f"{cfg.method} on {self.data.name}",
                unit="step",
                dynamic_ncols=True,
            )
            postfix: dict[str, str] = {}
            try:
                while self.step < stop:
                    started = time.perf_counter()
                    self.train_step()
                    self.train_time += time.perf_counter() - started
                    stopping = self.dist.any(self._signal is not None)  # every rank stops after the same step
                    logging = self.step % cfg.log_every == 0 or self.step == cfg.steps
                    # not where until_step stops: a resumed run logs what an uninterrupted one does
                    evaluating = self.step % cfg.eval_every == 0 or self.step == cfg.steps
                    saving = self.step % every == 0 or self.step == stop or stopping
                    if logging or evaluating or saving:
                        self._check_finite()
                    row = {**(self._read_losses() if logging else {}), **(self._validate() if evaluating else {})}
                    if row:
                        self._log(row)
                        postfix.update({k: f"{row[k]:.3f}" for k in ("loss", "val_accuracy") if k in row})
                        bar.set_postfix(postfix)
                    if saving:  # after the metrics row, so a resume never lacks the row of its checkpoint's step
                        self._save_checkpoint()
                    bar.update(1)
                    if stopping:
                        name = signal.Signals(self._signal or signal.SIGTERM).name
                        raise TrainingStopped(
                            f"stopped by {name} at step {self.step}, checkpoint saved; continue with: semimix train --resume {self.run_dir}",
                            self._signal or signal.SIGTERM,
                        )
            finally:
                bar.close()
                self._decoded = None  # stops the decoding workers; the next step restarts them from the streams
            if self.step < cfg.steps:
                return None
            return self._finish()

    def _request_stop(self, signum: int, _frame: Any) -> None:
        if self._signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now; the last checkpoint stays intact
        self._signal = signum

    @contextmanager
    def _owned_run_dir(self) -> Iterator[None]:
        """Rank 0 holds the run directory's lock while training, after checking it can be written
        (before the first step, not at the first checkpoint), and drops what a killed run left
        after the checkpoint it continues from: temp files, metric rows. A directory it created but
        never filled goes again."""
        if not self.dist.is_main:
            yield
            return
        created, lock = not self.run_dir.exists(), None
        try:
            files.check_writable(self.run_dir, self._checkpoint_bytes())
            lock = files.lock_run_dir(self.run_dir, wait_s=RESTART_LOCK_WAIT_S if self.dist.restarted else 0.0)
            files.remove_stale_temps(self.run_dir)
            with _writing(self.run_dir / "metrics.csv", self.run_dir):
                _truncate_metrics(self.run_dir / "metrics.csv", self.step)
                if self.extend:
                    self._record_new_length()
            yield
        finally:
            if lock is not None:
                os.close(lock)
            left = [p.name for p in self.run_dir.iterdir()] if created and self.run_dir.is_dir() else None
            if left == [] or (lock is not None and left == [files.LOCK]):
                (self.run_dir / files.LOCK).unlink(missing_ok=True)
                self.run_dir.rmdir()

    def _record_new_length(self) -> None:
        """A run trained longer: config.yaml states its new length (its next checkpoints carry it),
        and the summary of the shorter run goes."""
        values = load_yaml(self.run_dir / "config.yaml")
        values["steps"] = self.cfg.steps
        files.write_yaml(self.run_dir / "config.yaml", values)
        (self.run_dir / SUMMARY).unlink(missing_ok=True)

    def _checkpoint_bytes(self) -> int:
        """About what checkpoints take on disk: last.pt (weights, teacher, optimiser slots) twice
        while it is replaced, plus best.pt."""
        weights = sum(t.numel() * t.element_size() for t in self.student.state_dict().values())
        slots = 2 if self.cfg.optim.name == "adam" else int(self.cfg.optim.momentum > 0)
        last = weights * (1 + (self.teacher is not None) + slots)
        return 2 * last + weights

    def _check_finite(self) -> None:
        """Stop at the first NaN/Inf loss term, before anything of that step or later is saved."""
        if self._first_nonfinite is None:
            return
        first = dict(zip(self._sums_names[1:], self._first_nonfinite.tolist()))
        bad = {name: step for name, step in first.items() if step >= 0}
        if bad:
            step = min(bad.values())
            names = ", ".join(name for name, at in bad.items() if at == step)
            raise SemimixError(
                f"loss term {names} became NaN or Inf at step {step}; stopped without saving it, so {self.run_dir / CHECKPOINT_DIR / LAST} "
                "(if any) still holds the last good state — lower optim.lr, check the data, or --set nonfinite=skip to skip such steps"
            )

    def _read_losses(self) -> dict[str, float]:
        """Mean loss terms since the last row, averaged over ranks (their shards weigh the same)."""
        row = {"lr": self._last_lr, "ramp": self._last_ramp}
        means = self.dist.sum([(value / self._count).item() for value in self._sums.values()])
        row.update({name: mean / self.dist.world_size for name, mean in zip(self._sums, means)})
        self._sums, self._count = {}, 0
        return row

    def _validate(self) -> dict[str, float]:
        row: dict[str, float] = {}
        if len(self.data.x_val):
            result = self._evaluate(self.eval_model, self.data.x_val, self.data.y_val)
            row = {"val_accuracy": result["accuracy"], "val_nll": result["nll"]}
            if result["accuracy"] > self.best["val_accuracy"]:
                self.best = {"val_accuracy": result["accuracy"], "step": self.step}
                if self.dist.is_main:
                    self._save(BEST, {"model": self.eval_model.state_dict(), **self.best})
        return row

    # ----------------------------------------------------------------------------- files
    def _ckpt(self, name: str) -> Path:
        self._ensure_run_dir()
        return self.run_dir / CHECKPOINT_DIR / name

    def _ensure_run_dir(self) -> None:
        """The run directory appears with the first file worth keeping, after the first step
        succeeded, so bad input never leaves an empty or half-made run behind."""
        if (self.run_dir / "config.yaml").exists():
            return
        with _writing(self.run_dir, self.run_dir):
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if self.data.split:
                files.write_npz(self.run_dir / "split.npz", self.data.split)
            files.write_yaml(self.run_dir / "config.yaml", self.cfg.to_dict())

    def _save(self, name: str, state: dict[str, Any]) -> None:
        path = self._ckpt(name)
        with _writing(path, self.run_dir):
            files.save_torch(path, state)

    def _log(self, row: dict[str, Any]) -> None:
        if self.columns is None:  # the loss terms are known from the first step, whatever this row holds
            self.columns = ["step", "lr", "ramp", *self._sums_names, "val_accuracy", "val_nll"]
        if not self.dist.is_main:
            return
        self._ensure_run_dir()
        row = {"step": self.step, **row}
        path = self.run_dir / "metrics.csv"
        new = not path.exists()
        with _writing(path, self.run_dir), path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _save_checkpoint(self) -> None:
        # The streams stand at the next batch to train on even when a DataLoader has decoded
        # batches ahead (it draws from copies, see _drawn_ahead), so a streamed run resumes exactly.
        # Every rank's RNG states travel, since each rank draws its own augmentations and λ.
        cpu = torch.get_rng_state()
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else cpu[:0]
        rng = [{"cpu": both[: len(cpu)], "cuda": both[len(cpu) :]} for both in self.dist.gather(torch.cat([cpu, cuda]))]
        # The metrics row in progress: each rank's step count and loss sums since the last row.
        sums = self.dist.gather(torch.tensor([float(self._count), *(value.item() for value in self._sums.values())]))
        if self.dist.is_main:
            self._save(LAST, {**self._state(rng), "loss_sums": {"names": list(self._sums), "per_rank": sums}})
            marker = self.run_dir / CHECKPOINT_DIR / SAVED
            if not marker.exists():
                with _writing(marker, self.run_dir):
                    files.write_text(marker, "")
        self.dist.barrier()  # no rank reads a checkpoint (best.pt at the end) before it is written

    def _state(self, rng: list[dict[str, torch.Tensor]]) -> dict[str, Any]:
        return {
            "step": self.step,
            "student": self.student.state_dict(),
            "teacher": self.teacher.state_dict() if self.teacher is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "labeled_stream": self.labeled_stream.state_dict(),
            "unlabeled_stream": self.unlabeled_stream.state_dict() if self.unlabeled_stream else None,
            "second_labeled_stream": self.second_labeled_stream.state_dict() if self.second_labeled_stream else None,
            "method": self.method.state_dict(),
            "world_size": self.dist.world_size,
            "rng": rng,
            "best": self.best,
            "train_time": self.train_time,
            "skipped_steps": self.skipped_steps,
            "columns": self.columns,
            "extensions": self.extensions,
            "fingerprint": {"settings": training_settings(self.cfg), "data": self.data_digest},
        }

    def load_checkpoint(self, state: dict[str, Any]) -> None:
        self._check_fingerprint(state.get("fingerprint"))
        if state["world_size"] != self.dist.world_size:
            n = state["world_size"]
            raise SemimixError(
                f"{self.run_dir} was trained by {n} process(es) but is resumed by {self.dist.world_size}; "
                f"resume it with {n} (torchrun --nproc_per_node {n}, or --nproc {n})"
            )
        self.step = state["step"]
        self.student.load_state_dict(state["student"])
        if self.teacher is not None:
            self.teacher.load_state_dict(state["teacher"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.labeled_stream.load_state_dict(state["labeled_stream"])
        if self.unlabeled_stream is not None:
            self.unlabeled_stream.load_state_dict(state["unlabeled_stream"])
        if self.second_labeled_stream is not None:
            self.second_labeled_stream.load_state_dict(state["second_labeled_stream"])
        self.method.load_state_dict(state.get("method", {}))
        self._decoded = None  # batches decoded ahead belong to the old position
        rng = state["rng"][self.dist.rank]
        torch.set_rng_state(rng["cpu"])
        if self.device.type == "cuda" and len(rng["cuda"]):
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.best = state["best"]
        self.train_time = state["train_time"]
        self.skipped_steps = state["skipped_steps"]
        self.columns = state["columns"]
        self.extensions = list(state.get("extensions", []))
        saved_steps = state["fingerprint"]["settings"]["steps"] if "fingerprint" in state else self.cfg.steps
        if self.extend and self.step >= self.cfg.steps:
            raise SemimixError(f"{self.run_dir} is at step {self.step}; --steps {self.cfg.steps} would not train it further, give more steps")
        if self.extend and saved_steps != self.cfg.steps:
            self.extensions.append({"at_step": self.step, "from_steps": saved_steps, "to_steps": self.cfg.steps})
        count, *sums = state["loss_sums"]["per_rank"][self.dist.rank].tolist()
        self._count = int(count)
        self._sums = {name: torch.tensor(value, device=self.device) for name, value in zip(state["loss_sums"]["names"], sums)}

    def _check_fingerprint(self, saved: dict[str, Any] | None) -> None:
        """The checkpoint must continue under the settings and data it was trained with: an edited
        config.yaml or a dataset that now splits otherwise would silently train a hybrid."""
        if saved is None:  # written before checkpoints carried one: config.yaml is all there is to go by
            return
        current = training_settings(self.cfg)
        if self.extend:
            current["steps"] = saved["settings"].get("steps")
        changed = differences(saved["settings"], current)
        if changed:
            raise SemimixError(
                f"{self.run_dir}: config.yaml no longer matches the settings its checkpoint was trained with ({'; '.join(changed)}); "
                "nothing was changed — undo the edit to continue this run, or train the new settings as a new run with another --out"
                + (f" (to train it longer: semimix train --resume {self.run_dir} --steps N)" if [c.split(":")[0] for c in changed] == ["steps"] else "")
            )
        if saved["data"] != self.data_digest:
            raise SemimixError(
                f"{self.run_dir}: the data no longer matches what its checkpoint was trained on (other samples, labels or split); "
                "nothing was changed — point data.data_dir at the same dataset files, or train a new run"
            )

    def _finish(self) -> dict[str, Any]:
        final = self._evaluate(self.eval_model, self.data.x_test, self.data.y_test)
        at_best = self._evaluate(self.best_model(), self.data.x_test, self.data.y_test)
        n_per_step = self.cfg.labeled_batch_size + (self.cfg.unlabeled_batch_size if self.unlabeled_stream else 0)
        summary = {
            "method": self.cfg.method,
            "dataset": self.data.name,
            "model": self.model_name,
            "labels": len(self.data.y_labeled),
            "unlabeled": len(self.data.x_unlabeled),
            "seed": self.cfg.seed,
            "steps": self.step,
            "eval_model": self.eval_name,
            "test_accuracy": _finite(final["accuracy"]),
            "test_nll": _finite(final["nll"]),
            "best_val_accuracy": _finite(self.best["val_accuracy"]),
            "best_val_step": self.best["step"],
            "test_accuracy_at_best_val": _finite(at_best["accuracy"]),
            "test_nll_at_best_val": _finite(at_best["nll"]),
            "wall_time_s": round(self.train_time, 3),
            "train_samples_per_s": round(n_per_step * self.step / max(self.train_time, 1e-9), 1),
            "device": str(self.device),
            **hardware.describe(self.device),
            "processes": self.dist.world_size,
            "skipped_steps": self.skipped_steps,
            **({"extensions": self.extensions} if self.extensions else {}),
            "time_constants": {**self.time.describe(), "bn_momentum": batchnorm_momenta(self.student)},
            "semimix_version": semimix.__version__,
        }
        if self.dist.is_main:
            with _writing(self.run_dir / SUMMARY, self.run_dir):
                files.write_json(self.run_dir / SUMMARY, summary)
        return summary


def _drawn_ahead(streams: dict[str, IndexStream], shard: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[dict[str, np.ndarray]]:
    """Each step's batch indices {stream name: rows} (this rank's ``shard``), drawn from copies of ``streams`` taken now.

    A DataLoader draws these ahead of training to decode the next batches; the trainer's own
    streams draw the same indices only as each batch is trained on, so they always stand at the
    next batch to train on — what a checkpoint must save — and the sample order is the in-memory one.
    """
    copies = {}
    for name, stream in streams.items():
        copies[name] = IndexStream(stream.size, stream.batch_size, seed=0)
        copies[name].load_state_dict(stream.state_dict())
    return ({name: shard(copy.next()).numpy() for name, copy in copies.items()} for _ in itertools.count())


def _compose_view(augment: Callable[[torch.Tensor], torch.Tensor], preprocess: torch.nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A stochastic training view of a raw batch: to float, augment, then preprocess (the order of
    ICT's pipeline: flip/translate on images, then normalisation and ZCA)."""

    def view(x: torch.Tensor) -> torch.Tensor:
        x = augment(x.float())
        return preprocess(x) if preprocess is not None else x

    return view


def _strong_augment(weak: Augmenter, cfg: AugmentConfig, data: DataBundle) -> Callable[[torch.Tensor], torch.Tensor]:
    """FixMatch's strong view strong(weak(x)): RandAugment works on PIL's 0..255 levels, so only raw
    uint8 images (the image benchmarks, image folders) have one."""
    if data.x_labeled.dtype != torch.uint8:
        raise SemimixError(
            f"the strong view (RandAugment + Cutout) needs raw 0..255 images, but {data.name} is stored normalised; "
            "use an image benchmark (mnist, cifar10, svhn, ...) or an image folder"
        )
    strong = StrongAugmenter.from_config(cfg, data.input_shape)
    return lambda x: strong(weak(x))


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value


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


@contextmanager
def _writing(path: Path, run_dir: Path) -> Iterator[None]:
    """A failed write (full disk, lost permission) as one line; atomic writes keep the old file."""
    try:
        yield
    except OSError as exc:
        raise SemimixError(
            f"cannot write {path} ({exc.strerror or exc}); the files already there are intact — free disk space or fix "
            f"permissions, then continue with: semimix train --resume {run_dir}"
        ) from None


@contextmanager
def _stop_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``handler`` instead of killing the process (main thread only,
    where Python delivers signals); the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _check_faults_and_scale(cfg: TrainConfig, job: distributed.Dist, device: torch.device) -> None:
    """Options of torchrun jobs, checked before anything is built (the rest: ``validate_config``)."""
    if not job.active:
        return
    for key in ("labeled_batch_size", "unlabeled_batch_size"):
        if getattr(cfg, key) % job.world_size:
            raise SemimixError(
                f"{key}={getattr(cfg, key)} is the global batch, split evenly over {job.world_size} processes; make it a multiple of {job.world_size}"
            )
    if cfg.sync_batchnorm and device.type != "cuda":
        raise SemimixError("sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm has no CPU kernel); drop it on the CPU")
    if cfg.out is None and job.may_restart:
        raise SemimixError("torchrun --max-restarts needs a fixed run directory to continue in; give --out DIR")


def resume_trainer(run_dir: str | Path, steps: int | None = None) -> Trainer:
    """The trainer of an interrupted run at its last checkpoint, ready to continue; ``run`` drops
    metric rows logged after it. A run stopped before its first checkpoint starts again at step 0
    (and says so); one whose checkpoint vanished after it was written, or one already finished, is
    refused with nothing changed. ``steps`` trains the run (finished or not) to that many steps
    instead: from its checkpoint on, the schedule and time constants follow the new length."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists() and (run_dir / files.LOCK).exists():
        raise SemimixError(
            f"{run_dir} never started training (it was stopped before its first step completed): nothing to resume — "
            "start it again with the same 'semimix train' command (it may keep this --out)"
        )
    last = run_dir / CHECKPOINT_DIR / LAST
    if run_dir.is_dir() and (run_dir / "config.yaml").exists():
        if steps is None and _finished_steps(run_dir) == load_yaml(run_dir / "config.yaml").get("steps"):
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
    return open_run(run_dir, "--resume", started=True, steps=steps)


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


def open_run(run_dir: str | Path, what: str = "run directory", started: bool = False, steps: int | None = None) -> Trainer:
    """A run's trainer (config, data split, models, optimiser) at its last checkpoint; writes nothing.
    ``started`` also accepts a run that has its config but no checkpoint yet; ``steps`` resumes it
    to train to that length (``resume_trainer``)."""
    run_dir = Path(run_dir)
    config_path, ckpt_path = run_dir / "config.yaml", run_dir / CHECKPOINT_DIR / LAST
    if not run_dir.is_dir():
        raise SemimixError(f"{what} {run_dir}: no such directory; give the run directory that 'semimix train' printed")
    if not config_path.exists() or not (started or ckpt_path.exists()):
        raise SemimixError(
            f"{what} {run_dir}: not a semimix run (needs config.yaml and {CHECKPOINT_DIR}/{LAST}); give the directory that 'semimix train' printed"
        )
    cfg = config_from_dict(load_yaml(config_path))
    cfg.out = str(run_dir)
    if steps is not None:
        cfg.steps = steps
    trainer = Trainer(cfg, resuming=True, extend=steps is not None)
    trainer.load_last()
    return trainer
