"""The one method-agnostic training loop: build a run, take steps, evaluate, checkpoint. Methods
only say what their loss is; batches (``batches``), the run directory (``rundir``), checkpoints
(``checkpoint``), loss bookkeeping (``loss_meter``) and the summary (``summary``) live beside it."""

from __future__ import annotations

import copy
import dataclasses
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from semimix import files
from semimix.data import load_dataset
from semimix.data.bundle import DataBundle
from semimix.errors import SemimixError
from semimix.methods import StepContext, build_method, canonical_method_name
from semimix.methods.base import class_scores_of
from semimix.models import ModelSpec, build_model, python_model_name, resolve_model_name
from semimix.ops import keep_own_statistics
from semimix.train import checkpoint, distributed
from semimix.train.batches import BatchSource, training_views
from semimix.train.budget import scale_batchnorm, time_constants
from semimix.train.config import TrainConfig, validate_config
from semimix.train.ema import ema_update, make_teacher
from semimix.train.fingerprint import data_digest
from semimix.train.hardware import resolve_device
from semimix.train.inference import inference_entry
from semimix.train.loss_meter import LossMeter, row_interval
from semimix.train.optim import DecoupledDecay, make_optimizer
from semimix.train.precision import resolve_fast_path, use_channels_last
from semimix.train.rundir import BEST, CONFIG, LAST, METRICS, TENSORBOARD, RunDir, default_run_dir
from semimix.train.schedules import lr_factor, ramp_factor
from semimix.train.signals import TrainingStopped, stop_signals
from semimix.train.summary import run_summary
from semimix.train.tensorboard_log import TensorBoardLog, tensorboard_wanted

# Rank r > 0 of a torchrun job reseeds with seed + RANK_SEED_STRIDE·r after the shared initial
# weights, so each rank draws its own augmentations and λ (a prime: no rank repeats another's seed).
RANK_SEED_STRIDE = 1_000_003
RESTART_LOCK_WAIT_S = 30.0  # how long a torchrun-restarted run waits for its killed predecessor's lock
# Closed metrics rows wait on the device and are read (one wait for it), written and shown at least
# this often, and at every evaluation and checkpoint: a row every step costs no wait every step.
READ_EVERY_S = 0.5


class Trainer:
    """Builds a run from a config (validating everything before any file is written) and trains it.

    ``train_step()`` is the step alone: one optimiser step in memory that never touches the run
    directory (what the estimator and ``bench speed`` drive); ``run()`` is the loop around it that
    logs, evaluates, checkpoints and writes the summary.

    ``model`` (an ``nn.Module``, trained in place, or a factory ``(input_shape, num_classes) ->
    nn.Module``) trains that network instead of ``cfg.model`` and ``cfg.model_params``, which then
    record it as ``python:...`` and no parameters.
    """

    def __init__(self, cfg: TrainConfig, data: DataBundle | None = None, resuming: bool = False, extend: bool = False, model: ModelSpec | None = None) -> None:
        validate_config(cfg)  # checked when it was built, but a config is mutable
        cfg.method = canonical_method_name(cfg.method)
        self.cfg = cfg
        self.dist, self.device = distributed.setup(resolve_device(cfg.device))
        self.method = build_method(cfg.method, cfg.params_for_method())
        self.time = time_constants(cfg)  # the schedule, EMA and BN horizons this run's budget gets
        self.schedule = dataclasses.replace(cfg.schedule, milestones=list(self.time.milestones), warmup_steps=self.time.warmup_steps)
        distributed.check_job(cfg, self.dist, self.device)
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.data = data if data is not None else load_dataset(cfg.data, cfg.seed)
        self.data_digest = data_digest(self.data)
        self.extend = extend  # resumed to train longer than its checkpoint's run (``resume_trainer(steps=)``): only ``steps`` may differ
        if self.method.unlabeled == "required" and len(self.data.x_unlabeled) == 0:
            raise SemimixError(f"method {cfg.method!r} needs unlabeled samples, but {self.data.name} has none; use 'supervised' or add unlabeled data")
        if model is not None:
            cfg.model, cfg.model_params = python_model_name(model), {}  # what config.yaml, the fingerprint and the inference entry record
        self.network = model
        self.model_name = resolve_model_name(cfg.model, self.data.input_shape)
        self.student = self._build_model().to(self.device)
        if self.method.mixes_hidden_states and not getattr(self.student, "declares_hidden_layers", True):
            raise SemimixError(
                f"method {cfg.method!r} mixes hidden states, which needs one of semimix's models (they declare their layers); model {self.model_name!r} "
                f"is one opaque stage — set method_params.{cfg.method}.layers=input to mix inputs only, or use a semimix model (semimix models)"
            )
        self.fast_path = resolve_fast_path(cfg.precision, cfg.memory_format, self.device, self.student, self.data.input_shape)
        self._fast_path_applied = False  # channels-last is applied at the first step, once a resumed run kept its precision
        scale_batchnorm(self.student, self.time.bn_horizon_scale)
        if cfg.sync_batchnorm and self.dist.active:
            self.student = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.student)
        if self.dist.rank > 0:  # the same initial weights everywhere, then each rank's own random draws
            torch.manual_seed(cfg.seed + RANK_SEED_STRIDE * self.dist.rank)
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
        self.view, self.strong_view = training_views(cfg.augment, self.data, self.device, self.method.needs_strong_view)
        self.batches = BatchSource(self.data, cfg, self.method, self.dist, self.device)
        self.class_prior = torch.bincount(self.data.y_labeled, minlength=self.data.num_classes).float().to(self.device) / max(len(self.data.y_labeled), 1)
        self.class_scores = class_scores_of(self.method, self.data.num_classes)
        self.run_dir = Path(cfg.out) if cfg.out else Path(self.dist.broadcast_object(str(default_run_dir(cfg))))
        self.files = RunDir(self.run_dir)
        self.losses = LossMeter(self.dist, self.device)
        self.step, self.train_time, self.skipped_steps = 0, 0.0, 0
        self.best: dict[str, Any] = {"val_accuracy": -math.inf, "step": 0}
        self.columns: list[str] | None = None
        self.board: TensorBoardLog | None = None  # while run() runs, on rank 0 where wanted
        self.extensions: list[dict[str, int]] = []
        self._signal: int | None = None
        self.inference = inference_entry(self)  # what predicting needs without the data, saved with every checkpoint
        if not resuming and (self.run_dir / CONFIG).exists():
            checkpoint.continue_restarted(self)
        self.dist.barrier()  # every rank has looked at the run directory before rank 0 writes to it

    def _build_model(self, fresh: bool = False) -> torch.nn.Module:
        """The run's model; ``fresh`` never returns the student's own network (a Python nn.Module is copied)."""
        outputs = self.method.output_dim(self.data.num_classes)
        network = copy.deepcopy(self.network) if fresh and isinstance(self.network, torch.nn.Module) else self.network
        return build_model(self.model_name, self.data.input_shape, outputs, network=network, **self.cfg.model_params)

    def load_last(self) -> None:
        """Continue from ``checkpoints/last.pt``; a run killed before its first checkpoint starts again at step 0."""
        path = self.files.checkpoint(LAST)
        if path.exists():
            checkpoint.restore(self, files.load_torch(path))

    def best_model(self) -> torch.nn.Module:
        """The best-on-validation weights (the evaluated model itself when there was no validation)."""
        best_path = self.files.checkpoint(BEST)
        if not best_path.exists():
            return self.eval_model
        model = self._build_model(fresh=True).to(self.device)
        model.load_state_dict(files.load_torch(best_path)["model"])
        return model

    def keep_precision(self, saved: str | None) -> None:
        """A resumed run continues in the precision its checkpoint trained in, where ``precision: auto``
        would resolve otherwise here (another machine); a checkpoint from before ``auto`` says nothing,
        and its config's explicit precision (from ``amp``) already holds."""
        if saved is not None and self.cfg.precision == "auto" and saved != self.fast_path.precision:
            self.fast_path = resolve_fast_path("auto", self.cfg.memory_format, self.device, self.student, self.data.input_shape, saved_precision=saved)

    def _apply_fast_path(self) -> None:
        if self.fast_path.channels_last:
            for model in (self.student, self.teacher):
                if model is not None:
                    use_channels_last(model)
        self._fast_path_applied = True

    @property
    def eval_model(self) -> torch.nn.Module:
        return self.teacher if self.eval_name == "teacher" and self.teacher is not None else self.student

    # ----------------------------------------------------------------------------- the step
    def train_step(self) -> None:
        """One optimiser step on the next batch, in memory only."""
        cfg = self.cfg
        if not self._fast_path_applied:
            self._apply_fast_path()
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
            strong_view=self.strong_view,
            num_unlabeled=len(self.data.x_unlabeled),
            progress=self.step / self.time.schedule_steps,
            class_prior=self.class_prior,
        )
        sample_state = {k: v.clone() for k, v in self.method.state_dict().items()} if self.dist.active else {}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.fast_path.bf16):
            terms = self.method.losses(self.batches.next(), ctx)
        values = torch.stack(list(terms.values()))
        total = values.sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        # Which terms were NaN/Inf on any rank: summed with the gradients, read only when logging
        # or checkpointing (or, with nonfinite=skip, now: skipping needs the answer before the update).
        nonfinite = self.dist.average_gradients(list(self.student.parameters()), (~torch.isfinite(values.detach())).float())
        self.losses.names = ["loss", *terms]
        if cfg.nonfinite == "skip" and bool(nonfinite.any()):
            self.skipped_steps += 1
        else:
            self._apply_update(sample_state)
            self.losses.mark_nonfinite(nonfinite, self.step + 1)
            self.losses.add({"loss": total, **terms})
        self.step += 1
        self._last_lr, self._last_ramp = lr, ramp

    def _apply_update(self, sample_state: dict[str, torch.Tensor]) -> None:
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

    # ----------------------------------------------------------------------------- the loop
    def run(self, until_step: int | None = None) -> dict[str, Any] | None:
        """Train to ``cfg.steps`` (or stop after ``until_step`` with a checkpoint) and return the summary.

        SIGTERM or Ctrl-C lets the step in progress finish, saves a checkpoint and raises
        ``TrainingStopped``; a second one stops at once, keeping the last checkpoint. TensorBoard's
        event file is closed on every way out.
        """
        cfg = self.cfg
        stop = min(cfg.steps, until_step) if until_step is not None else cfg.steps
        every = cfg.checkpoint_every or cfg.eval_every
        log_every = row_interval(cfg.log_every, cfg.steps)
        events = tensorboard_wanted(cfg.tensorboard)  # before the run directory is touched: tensorboard: true without the package stops here
        with self._owned_run_dir(), stop_signals(self._request_stop), self._event_log(events):
            shown = cfg.progress and self.dist.is_main
            bar = tqdm(total=cfg.steps, initial=self.step, disable=not shown, desc=f"{cfg.method} on {self.data.name}", unit="step", dynamic_ncols=True)
            postfix: dict[str, str] = {}
            last_read = time.perf_counter()
            try:
                while self.step < stop:
                    started = time.perf_counter()
                    self.train_step()
                    self.train_time += time.perf_counter() - started
                    # every rank stops, and reads its rows (a collective), after the same step
                    stopping, reading = self.dist.any_of(self._signal is not None, time.perf_counter() - last_read >= READ_EVERY_S)
                    if self.step % log_every == 0 or self.step == cfg.steps:  # not where until_step stops: a resumed run logs what an uninterrupted one does
                        self.losses.end_row({"step": self.step, "lr": self._last_lr, "ramp": self._last_ramp})
                    evaluating = self.step % cfg.eval_every == 0 or self.step == cfg.steps
                    saving = self.step % every == 0 or self.step == stop or stopping
                    if reading or evaluating or saving:
                        self.losses.check_finite(self.files.checkpoint(LAST))  # stop at a NaN/Inf term before anything of its step is saved
                        rows = self.losses.read()
                        if evaluating:
                            self._add_validation(rows)
                        if rows:
                            self._log(rows)
                            postfix.update({k: f"{rows[-1][k]:.3f}" for k in ("loss", "val_accuracy") if k in rows[-1]})
                            bar.set_postfix(postfix)
                        last_read = time.perf_counter()
                    if saving:  # after the metrics rows, so a resume never lacks the row of its checkpoint's step
                        self._save(LAST, checkpoint.capture(self))
                        self.dist.barrier()  # no rank reads a checkpoint (best.pt at the end) before it is written
                    bar.update(1)
                    if stopping:
                        signum = self._signal or signal.SIGTERM
                        resume = f"semimix train --resume {self.run_dir}"
                        name = signal.Signals(signum).name
                        raise TrainingStopped(f"stopped by {name} at step {self.step}, checkpoint saved; continue with: {resume}", signum)
            finally:
                bar.close()
                self.batches.stop_decoding()  # the next step restarts the workers from the streams
            if self.step < cfg.steps:
                return None
            return self._finish()

    def _request_stop(self, signum: int, _frame: Any) -> None:
        if self._signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now; the last checkpoint stays intact
        self._signal = signum

    @contextmanager
    def _owned_run_dir(self) -> Iterator[None]:
        """Rank 0 holds the run directory while training (see ``RunDir.owned``); a run trained
        longer records its new length there first."""
        if not self.dist.is_main:
            yield
            return
        with self.files.owned(self.step, checkpoint.disk_bytes(self), RESTART_LOCK_WAIT_S if self.dist.restarted else 0.0):
            if self.extend:
                self.files.record_new_length(self.cfg.steps)
            yield

    @contextmanager
    def _event_log(self, wanted: bool) -> Iterator[None]:
        """TensorBoard's event files beside metrics.csv (rank 0, where ``wanted``), closed however the attempt ends."""
        if wanted and self.dist.is_main:
            self.board = TensorBoardLog(self.run_dir / TENSORBOARD, self.step, self.run_dir / METRICS)
        try:
            yield
        finally:
            if self.board is not None:
                self.board.close()
                self.board = None

    def _add_validation(self, rows: list[dict[str, float]]) -> None:
        """This step's validation numbers, in its loss row if it has one."""
        validation = self._validate()
        if not validation:
            return
        if not rows or rows[-1]["step"] != self.step:
            rows.append({"step": self.step})
        rows[-1].update(validation)

    def _validate(self) -> dict[str, float]:
        """Evaluate on the validation split (if any), keeping the best weights in best.pt."""
        if not len(self.data.x_val):
            return {}
        result = distributed.evaluate_sharded(self.dist, self.eval_model, self.data.x_val, self.data.y_val, self.data.preprocess, self.class_scores)
        if result["accuracy"] > self.best["val_accuracy"]:
            self.best = {"val_accuracy": result["accuracy"], "step": self.step}
            self._save(BEST, {"model": self.eval_model.state_dict(), **self.best, "inference": self.inference})
        return {"val_accuracy": result["accuracy"], "val_nll": result["nll"]}

    # ----------------------------------------------------------------------------- files (rank 0)
    def _save(self, name: str, state: dict[str, Any] | None) -> None:
        if self.dist.is_main and state is not None:
            self._ready_files().save_checkpoint(name, state)

    def _log(self, rows: list[dict[str, Any]]) -> None:
        if self.columns is None:  # the loss terms are known from the first step, whatever these rows hold
            self.columns = ["step", "lr", "ramp", *self.losses.names, "val_accuracy", "val_nll"]
        if self.dist.is_main:
            self._ready_files().append_metrics(self.columns, rows)
            if self.board is not None:
                self.board.write(rows)

    def _ready_files(self) -> RunDir:
        """The run directory, created with its config and split before its first other file."""
        if not self.files.created:
            self.files.create(self.cfg.to_dict(), self.data.split)
        return self.files

    def _finish(self) -> dict[str, Any]:
        evaluate = partial(distributed.evaluate_sharded, self.dist, x=self.data.x_test, y=self.data.y_test, preprocess=self.data.preprocess)
        final = evaluate(self.eval_model, class_scores=self.class_scores)
        at_best = evaluate(self.best_model(), class_scores=self.class_scores)
        summary = run_summary(self, final, at_best)
        if self.dist.is_main:
            self.files.write_summary(summary)
        return summary
