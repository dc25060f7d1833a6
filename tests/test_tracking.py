"""Watching a run (issue 29, item 3): metrics rows at a cadence that gives short runs curves, read
from the device in batches rather than every step; TensorBoard event files beside metrics.csv that
survive resume, stops and crashes and come from rank 0 alone; and figures that leave a notebook's
matplotlib backend alone."""

from __future__ import annotations

import csv
import importlib.util
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ddp_jobs import moons_config
from run_checks import event_scalars
from semimix.api import resume, train
from semimix.errors import SemimixError
from semimix.train import trainer as trainer_module
from semimix.train.config import TrainConfig
from semimix.train.distributed import Dist
from semimix.train.loss_meter import LossMeter, row_interval
from semimix.train.signals import TrainingStopped
from semimix.train.trainer import Trainer

needs_tensorboard = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="the tensorboard extra is not installed")


def rows(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "metrics.csv").open()))


def csv_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """metrics.csv as TensorBoard should show it: each column's filled cells as float32, by step."""
    table = rows(run)
    names = [n for n in table[0] if n != "step"]
    return {n: [(int(r["step"]), pytest.approx(float(r[n]), rel=1e-6)) for r in table if r[n] != ""] for n in names}


def edit_config(run: Path, **changes: Any) -> None:
    values = yaml.safe_load((run / "config.yaml").read_text())
    values.update(changes)
    (run / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))


# ----------------------------------------------------------------------------- the rows
def test_auto_log_every_logs_every_step_of_a_short_run_and_every_50_of_a_long_one(tmp_path: Path) -> None:
    assert [row_interval("auto", steps) for steps in (20, 999, 1000, 2000, 25_000, 10**6)] == [1, 1, 2, 4, 50, 50]
    assert row_interval(7, 20) == 7
    assert TrainConfig().log_every == "auto"
    train(moons_config(tmp_path / "run", steps=20, eval_every=10, log_every="auto"))
    table = rows(tmp_path / "run")
    assert [int(r["step"]) for r in table] == list(range(1, 21)), "a 20-step run has a curve: a row every step"
    assert [int(r["step"]) for r in table if r["val_accuracy"]] == [10, 20], "evaluations fill the loss row of their step"
    assert all(r["loss"] and r["lr"] for r in table)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"log_every": 0}, "log_every must be an integer > 0 or auto; got 0"),
        ({"log_every": "often"}, "log_every must be an integer > 0 or auto; got 'often'"),
        ({"tensorboard": "yes"}, "tensorboard must be true, false or auto; got 'yes'"),
    ],
)
def test_log_every_and_tensorboard_take_their_values_or_auto(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SemimixError, match=message):
        TrainConfig(**values)
    TrainConfig(log_every=3, tensorboard=False)  # and the rest are fine


def test_rows_wait_on_the_device_until_an_evaluation_or_checkpoint_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row every step costs no wait for the device every step: closed rows are read together (one
    wait), here only where the run evaluates (steps 10 and 20), with the time-based read switched off."""
    monkeypatch.setattr(trainer_module, "READ_EVERY_S", float("inf"))
    reads: list[int] = []
    read = LossMeter.read
    monkeypatch.setattr(LossMeter, "read", lambda self: reads.append(len(self._rows)) or read(self))
    train(moons_config(tmp_path / "run", steps=20, eval_every=10, log_every=1, checkpoint_every=None))
    assert reads == [10, 10]
    assert len(rows(tmp_path / "run")) == 20


def test_a_row_every_step_reads_nothing_from_the_device_that_a_row_every_20_does_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What would wait for a GPU (a tensor's value on the host) is counted on the CPU: 20 rows cost
    no more such reads than 1, so logging every step adds no wait per step."""
    monkeypatch.setattr(trainer_module, "READ_EVERY_S", float("inf"))
    counts: list[int] = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _original=original: counts.append(1) or _original(self, *a))
    host_reads = []
    for log_every in (20, 1):
        counts.clear()
        train(moons_config(tmp_path / f"every-{log_every}", steps=20, eval_every=20, log_every=log_every, checkpoint_every=None))
        host_reads.append(len(counts))
    assert len(rows(tmp_path / "every-1")) == 20 and len(rows(tmp_path / "every-20")) == 1
    assert host_reads[1] == host_reads[0] > 0


# ----------------------------------------------------------------------------- TensorBoard
@needs_tensorboard
def test_event_files_hold_the_scalars_of_metrics_csv_at_their_steps(tmp_path: Path) -> None:
    train(moons_config(tmp_path / "run", steps=12, eval_every=6, log_every=1, tensorboard=True))
    shown = event_scalars(tmp_path / "run")
    assert set(shown) == {"loss", "supervised", "consistency", "lr", "ramp", "val_accuracy", "val_nll"}
    assert shown == csv_scalars(tmp_path / "run")
    assert [step for step, _ in shown["val_accuracy"]] == [6, 12]


@needs_tensorboard
def test_a_resumed_run_appends_event_files_and_shows_no_step_twice(tmp_path: Path) -> None:
    """A crash at step 11 after rows 9 and 10 were written past the checkpoint at 8: the crashed
    attempt closed its event file, and the resumed one (continuing from 8) appends a file whose
    first event purges the earlier 9 and 10, so TensorBoard shows what an uninterrupted run does."""
    settings = {"steps": 24, "eval_every": 5, "log_every": 1, "checkpoint_every": 8, "tensorboard": True}
    train(moons_config(tmp_path / "reference", **settings))
    run = tmp_path / "run"
    crashed = Trainer(moons_config(run, **settings))
    losses = crashed.method.losses

    def crash_at_step_11(batch: Any, ctx: Any) -> Any:
        if ctx.step == 10:
            raise RuntimeError("a crash")
        return losses(batch, ctx)

    crashed.method.losses = crash_at_step_11  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a crash"):
        crashed.run()
    assert crashed.board is None, "the event file is closed on an exception too"
    assert max(step for step, _ in event_scalars(run)["loss"]) == 10
    resume(run, progress=False)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2, "the resumed attempt appends a file of its own"
    assert event_scalars(run) == event_scalars(tmp_path / "reference")


@needs_tensorboard
def test_an_attempt_opened_in_the_same_second_sorts_after_the_earlier_one(tmp_path: Path) -> None:
    """TensorBoard reads event files in name order, and names start with the second they were opened
    in: a second attempt of the same process in the same second would otherwise sort by a counter as
    text ("10" before "9") and its purge could come first."""
    from semimix.train.tensorboard_log import TensorBoardLog

    board, opened = tmp_path / "tensorboard", []
    for start in (0, 1):
        before = set(board.glob("events.out.tfevents.*"))
        log = TensorBoardLog(board, start, tmp_path / "metrics.csv")
        log.write([{"step": start + 1, "loss": 0.5}])
        log.close()
        (new,) = set(board.glob("events.out.tfevents.*")) - before
        opened.append(new.name)
    assert sorted(opened) == opened
    assert int(opened[1].split(".")[3]) > int(opened[0].split(".")[3])


@needs_tensorboard
def test_a_stopped_run_closes_its_event_file_with_the_rows_of_its_checkpoint(tmp_path: Path) -> None:
    trainer = Trainer(moons_config(tmp_path / "run", steps=24, eval_every=50, log_every=1, tensorboard=True))
    step = trainer.train_step

    def sigterm_at_step_6() -> None:
        step()
        if trainer.step == 6:
            trainer._request_stop(signal.SIGTERM, None)

    trainer.train_step = sigterm_at_step_6  # type: ignore[method-assign]
    with pytest.raises(TrainingStopped):
        trainer.run()
    assert trainer.board is None
    assert [s for s, _ in event_scalars(tmp_path / "run")["loss"]] == [1, 2, 3, 4, 5, 6]


@needs_tensorboard
def test_tensorboard_switched_on_when_resuming_starts_with_the_rows_already_logged(tmp_path: Path) -> None:
    settings = {"steps": 24, "eval_every": 8, "log_every": 1}
    train(moons_config(tmp_path / "reference", **settings, tensorboard=True))
    run = tmp_path / "run"
    train(moons_config(run, **settings, tensorboard=False), until_step=12)
    assert not (run / "tensorboard").exists()
    edit_config(run, tensorboard=True)  # a runtime key: it may change between attempts
    resume(run, progress=False)
    assert event_scalars(run) == event_scalars(tmp_path / "reference")


def test_tensorboard_true_without_the_package_stops_before_any_file_and_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were missing
    with pytest.raises(SemimixError) as error:
        train(moons_config(tmp_path / "run", steps=4, tensorboard=True))
    message = str(error.value)
    assert "pip install 'semimix[tensorboard]'" in message and "tensorboard=false" in message and "\n" not in message
    assert not (tmp_path / "run").exists()
    train(moons_config(tmp_path / "auto", steps=4))  # auto: trains on without event files
    assert (tmp_path / "auto" / "summary.json").exists() and not (tmp_path / "auto" / "tensorboard").exists()


def test_only_rank_0_writes_rows_and_event_files(tmp_path: Path) -> None:
    """Every process of a torchrun job runs the same loop; one that is not rank 0 writes nothing."""
    trainer = Trainer(moons_config(tmp_path / "run", steps=6, eval_every=3, tensorboard="auto"))
    trainer.dist = Dist(rank=1)  # its collectives stay local: a world of one that is not rank 0
    assert trainer.run() is not None
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- figures
def test_figures_leave_matplotlibs_backend_and_pyplot_alone(tmp_path: Path) -> None:
    """In a fresh interpreter (this one may have imported semimix.plots already), with a backend
    chosen beforehand as a notebook would: importing semimix.plots, drawing and saving change neither
    the backend nor pyplot's figures."""
    script = textwrap.dedent(
        f"""
        import matplotlib
        matplotlib.use("pdf")
        import matplotlib.pyplot as plt
        import numpy as np
        from semimix import plots
        from semimix.eval.report import write_figure

        fig, (ax,) = plots.new_figure(1)
        plots.draw_attack_curves(ax, [0.0, 0.5], {{"model": [0.1, 0.4]}})
        plots.save_figure(fig, {str(tmp_path / "curves.png")!r})
        curves = plots.draw_training_curves(["loss"], [("run", {{"loss": (np.arange(3), np.ones(3))}})])
        write_figure(curves, {str(tmp_path / "training.svg")!r})
        fig, axes = plots.new_reliability_figure()
        assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
        assert plt.get_fignums() == [], plt.get_fignums()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG") and (tmp_path / "training.svg").exists()
