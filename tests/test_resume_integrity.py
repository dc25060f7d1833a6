"""Resume cannot give a wrong answer: a checkpoint continues only under the settings and data it
was trained with, a vanished checkpoint or a finished run is refused with nothing changed, and a run
killed at any moment (SIGKILL, mid-write included) and resumed leaves the files of an uninterrupted
run, byte for byte except wall times."""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import random
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from ddp_jobs import moons_config
from run_checks import assert_one_line_error, event_scalars, snapshot
from semimix import cli, files
from semimix.api import train
from semimix.train.rundir import TENSORBOARD
from semimix.train.trainer import Trainer

TIMINGS = ("wall_time_s", "train_samples_per_s", "finished_utc")  # summary.json keys that are clock readings


def cli_fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The command ends with one clear line (see ``assert_one_line_error``); returns it."""
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    assert_one_line_error(code, err)
    return err


def stopped_run(tmp_path: Path, method: str = "ict", **extra: Any) -> Path:
    """A run of 24 steps stopped after 12 (evaluations every 8, rows every 4)."""
    run = tmp_path / "run"
    train(moons_config(run, method, steps=24, eval_every=8, log_every=4, checkpoint_every=None, **extra), until_step=12)
    return run


def edit_config(run: Path, **changes: Any) -> None:
    values = yaml.safe_load((run / "config.yaml").read_text())
    values.update(changes)
    (run / "config.yaml").write_text(yaml.safe_dump(values, sort_keys=False))


def assert_same_run_files(reference: Path, run: Path) -> None:
    """Every file of ``run`` equals the reference's byte for byte, except the wall times in
    summary.json and last.pt and config.yaml's ``out``; TensorBoard's event files (one per attempt,
    stamped with wall times) show the same scalars at the same steps."""
    ref, got = ({k: v for k, v in snapshot(folder).items() if not k.startswith(f"{TENSORBOARD}/")} for folder in (reference, run))
    assert sorted(ref) == sorted(got), "the runs hold different files"
    assert (reference / TENSORBOARD).exists() == (run / TENSORBOARD).exists()
    if (reference / TENSORBOARD).exists():
        assert event_scalars(run) == event_scalars(reference)
    for name in ref:
        if name == files.LOCK:
            continue  # names the process that held it
        if name == "summary.json":
            a, b = json.loads(ref[name]), json.loads(got[name])
            assert {k: v for k, v in a.items() if k not in TIMINGS} == {k: v for k, v in b.items() if k not in TIMINGS}
        elif name == "checkpoints/last.pt":
            a, b = (torch.load(io.BytesIO(x), weights_only=True) for x in (ref[name], got[name]))
            a.pop("train_time"), b.pop("train_time")
            assert_equal_nested(a, b, name)
        elif name == "config.yaml":  # bytes, but for where each run was told to live

            def strip(text: bytes) -> bytes:
                return b"".join(line for line in text.splitlines(keepends=True) if not line.startswith(b"out: "))

            assert strip(ref[name]) == strip(got[name]), name
        else:
            assert ref[name] == got[name], f"{name} differs"


def assert_equal_nested(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal_nested(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal_nested(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


# ----------------------------------------------------------------------------- settings and data
def test_an_edited_config_is_refused_naming_the_keys_and_changing_nothing(capsys, tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    edit_config(run, method="vat", steps=20)
    before = snapshot(run)
    err = cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    assert "method: 'ict' → 'vat'" in err and "steps: 24 → 20" in err and "nothing was changed" in err, err
    assert snapshot(run) == before


def test_settings_of_how_a_run_executes_may_change_on_resume(tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    edit_config(run, threads=2, progress=True, checkpoint_every=5, out="elsewhere")
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 24


def test_a_setting_newer_than_the_checkpoint_counts_only_away_from_its_default(capsys, tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    path = run / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=True)
    settings = state["fingerprint"]["settings"]
    del settings["augment"]["cutout"], settings["method_params"]["alpha"], settings["data"]["image_size"]  # as if written before they existed
    torch.save(state, path)
    augment = yaml.safe_load((run / "config.yaml").read_text())["augment"]
    edit_config(run, augment={**augment, "cutout": 0.25})
    assert "augment.cutout: '(absent)' → 0.25" in cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    edit_config(run, augment=augment)  # every setting the checkpoint lacks at its default: what the run trained with
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0


def test_steps_extend_a_run_only_when_asked_and_the_summary_says_so(capsys, tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    edit_config(run, steps=30)
    assert "--steps N" in cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    edit_config(run, steps=24)
    assert cli.main(["train", "--resume", str(run), "--quiet", "--steps", "30"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 30 and summary["extensions"] == [{"at_step": 12, "from_steps": 24, "to_steps": 30}]
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 30
    assert "is finished (30 steps)" in cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    assert "would not train it further" in cli_fails(capsys, "train", "--resume", str(run), "--quiet", "--steps", "20")


def test_data_that_changed_under_a_checkpoint_is_refused(capsys, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = np.arange(200) % 2
    x = rng.normal(size=(200, 2)) + 3 * truth[:, None]
    y = np.where(np.arange(200) < 20, truth, -1)
    data = tmp_path / "mine.npz"
    np.savez(data, X=x, y=y)
    run = stopped_run(tmp_path, "vat", data={"dataset": str(data)})
    y[0] = 1 - y[0]  # one labeled sample now says another class
    np.savez(data, X=x, y=y)
    before = snapshot(run)
    assert "the data no longer matches" in cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- missing pieces
def test_a_checkpoint_that_vanished_after_it_was_written_is_refused(capsys, tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    (run / "checkpoints" / "last.pt").unlink()
    before = snapshot(run)
    err = cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    assert "checkpoints/last.pt is missing although this run saved it" in err and "nothing was changed" in err
    assert snapshot(run) == before


def test_a_run_stopped_before_its_first_checkpoint_trains_again_from_the_start_and_says_so(capsys, tmp_path: Path) -> None:
    train(moons_config(tmp_path / "reference", "ict", steps=24, eval_every=8, log_every=4, checkpoint_every=None))
    run = stopped_run(tmp_path)
    for path in sorted((run / "checkpoints").iterdir()):  # as if killed at step 6: rows logged, nothing saved yet
        path.unlink()
    (run / "checkpoints").rmdir()
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "stopped before its first checkpoint: training it again from step 0" in capsys.readouterr().err
    assert_same_run_files(tmp_path / "reference", run)


def test_a_run_that_never_started_says_so_and_how_to_start_it(capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / files.LOCK).write_text("pid 1 on host\n")  # what a run killed during its first step leaves
    err = cli_fails(capsys, "train", "--resume", str(run))
    assert "never started training" in err and "start it again with the same 'semimix train' command" in err


def test_resuming_a_finished_run_changes_nothing(capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(moons_config(run, "ict", steps=8, eval_every=4, log_every=4))
    before = snapshot(run)
    assert "is finished (8 steps); nothing to resume and nothing was changed" in cli_fails(capsys, "train", "--resume", str(run), "--quiet")
    assert snapshot(run) == before


# ----------------------------------------------------------------------------- identical files
def test_a_stopped_and_resumed_run_writes_the_files_of_an_uninterrupted_one(tmp_path: Path) -> None:
    """Stopping at step 12 (between evaluations at 8 and 16) adds no evaluation, row or best.pt."""
    train(moons_config(tmp_path / "reference", "ict", steps=24, eval_every=8, log_every=4, checkpoint_every=None))
    run = stopped_run(tmp_path)
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert b"\r" not in (run / "metrics.csv").read_bytes()
    assert_same_run_files(tmp_path / "reference", run)


# ----------------------------------------------------------------------------- SIGKILL at any moment
def _attempt(argv: list[str], cwd: Path, kill: tuple[str, int] | None, stderr: Path) -> None:
    """In a forked child: the CLI in ``cwd``, killed by SIGKILL at the ``n``-th step it starts, the
    ``n``-th file it writes (halfway through, leaving the temp file) or the ``n``-th metrics row it
    appends (halfway through the line)."""
    os.chdir(cwd)
    if kill is not None:
        kind, n = kill
        calls = [0]

        def due() -> bool:
            calls[0] += 1
            return calls[0] == n

        def die() -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        if kind == "step":
            step = Trainer.train_step
            Trainer.train_step = lambda self: die() if due() else step(self)  # type: ignore[method-assign]
        elif kind == "write":
            write_file = files.atomic_write

            def half_write(path: Path, write: Any) -> None:
                if not due():
                    return write_file(path, write)
                data = io.BytesIO()
                write(data)
                path.parent.mkdir(parents=True, exist_ok=True)
                (path.parent / f".{path.name}.killed.tmp").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
                die()

            files.atomic_write = half_write  # type: ignore[assignment]
        else:
            log = Trainer._log

            def half_row(self: Trainer, row: dict[str, Any]) -> None:
                if due() and (self.run_dir / "metrics.csv").exists():
                    with (self.run_dir / "metrics.csv").open("a") as f:
                        f.write(f"{self.step},0.0")
                    die()
                log(self, row)

            Trainer._log = half_row  # type: ignore[method-assign]
    with stderr.open("w") as f, contextlib.redirect_stderr(f):
        status = cli.main(argv)
        f.flush()
    os._exit(status)


def _in_child(argv: list[str], cwd: Path, kill: tuple[str, int] | None, stderr: Path) -> int | None:
    proc = multiprocessing.get_context("fork").Process(target=_attempt, args=(argv, cwd, kill, stderr))
    proc.start()
    proc.join(120)
    return proc.exitcode


def test_killed_at_ten_moments_then_resumed_leaves_the_files_of_an_uninterrupted_run(tmp_path: Path) -> None:
    """Ten SIGKILLs: during the first step (before the run directory holds anything), after rows
    were written (at the evaluation of step 4) but before the first checkpoint, halfway through a
    checkpoint write, then seven at random steps, file writes and metric rows. Each attempt after a
    kill resumes (or, for a run that never started, starts again) with the same command a user would give."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(moons_config(Path("run"), steps=120, eval_every=4, log_every=3, checkpoint_every=8).to_dict(), sort_keys=False))
    train_argv = ["train", "--config", str(config), "--quiet"]
    (tmp_path / "reference").mkdir()
    assert _in_child(train_argv, tmp_path / "reference", None, tmp_path / "ref.txt") == 0, (tmp_path / "ref.txt").read_text()
    rng = random.Random(0)
    kills = [("step", 1), ("step", 6), ("write", 4)] + [
        rng.choice([("step", rng.randint(2, 20)), ("write", rng.randint(1, 8)), ("row", rng.randint(1, 5))]) for _ in range(7)
    ]
    work, landed = tmp_path / "killed", []
    work.mkdir()
    for kill in kills:
        argv = ["train", "--resume", "run", "--quiet"] if (work / "run" / "config.yaml").exists() else train_argv
        code = _in_child(argv, work, kill, tmp_path / "err.txt")
        assert code in (-signal.SIGKILL, 0), (tmp_path / "err.txt").read_text()
        landed.append(code == -signal.SIGKILL)
        if kill == ("step", 6):
            assert not (work / "run" / "checkpoints" / "last.pt").exists() and (work / "run" / "metrics.csv").exists()
    assert landed == [True] * 10, f"kills {kills} landed {landed}: the run ended before all ten"
    assert _in_child(["train", "--resume", "run", "--quiet"], work, None, tmp_path / "err.txt") == 0, (tmp_path / "err.txt").read_text()
    assert_same_run_files(tmp_path / "reference" / "run", work / "run")
