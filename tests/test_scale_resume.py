"""Scale-out and faults: 2-process gloo DDP under torchrun, SIGKILL/SIGTERM at random moments then
resume, a torchrun restart after a worker is killed, NaN losses, full or unwritable disks, locked
run directories, and checkpoints or configs crafted to run code."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ddp_jobs import STEPS, moons_config
from run_checks import event_scalars
from semimix import cli, files
from semimix.api import train
from semimix.errors import SemimixError
from semimix.files import load_yaml
from semimix.train import distributed
from semimix.train.config import apply_override
from semimix.train.resume import resume_trainer
from semimix.train.trainer import Trainer

TESTS = Path(__file__).resolve().parent
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    "OMP_NUM_THREADS": "1",
    "SEMIMIX_DIST_TIMEOUT": "60",
    "PYTHONFAULTHANDLER": "1",
}  # a hung collective fails the test in a minute instead of blocking CI; a worker that aborts prints its Python stacks
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def last(run: Path) -> dict[str, Any]:
    return files.load_torch(run / "checkpoints" / "last.pt")


def assert_same_weights(a: Path, b: Path) -> None:
    """Student and teacher bit for bit."""
    ref, got = last(a), last(b)
    assert ref["step"] == got["step"]
    for part in ("student", "teacher"):
        for key, value in (ref[part] or {}).items():
            assert torch.equal(value, got[part][key]), f"{part}.{key} differs"


def write_config(path: Path, **kwargs: Any) -> Path:
    path.write_text(yaml.safe_dump(moons_config(**kwargs).to_dict(), sort_keys=False))
    return path


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def holds_lock(run: Path, pid: int) -> bool:
    """The run's lock names ``pid``: that process is past its checks and training."""
    lock = run / files.LOCK
    return lock.exists() and lock.read_text().startswith(f"pid {pid} ")


# ----------------------------------------------------------------------------- DDP on CPU (gloo)
@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/ddp_jobs.py under torchrun with 2 gloo workers (one launch for several runs)."""
    root = tmp_path_factory.mktemp("ddp")
    done = subprocess.run([*TORCHRUN, str(TESTS / "ddp_jobs.py"), str(root)], env=ENV, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return root


@pytest.mark.slow
def test_two_gloo_processes_train_the_weights_of_one_with_the_same_global_batch(ddp_runs: Path, tmp_path: Path) -> None:
    train(moons_config(tmp_path / "one", "supervised", steps=60, checkpoint_every=None))
    one, two = last(tmp_path / "one"), last(ddp_runs / "supervised")
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    assert not torch.equal(two["rng"][0]["cpu"], two["rng"][1]["cpu"]), "ranks must draw their own random numbers"
    untrained = Trainer(moons_config(tmp_path / "init", "supervised")).student.state_dict()
    for key, value in one["student"].items():
        assert not torch.allclose(value, untrained[key]), f"{key} did not train, so the comparison proves nothing"
        torch.testing.assert_close(two["student"][key], value, rtol=1e-5, atol=1e-6, msg=f"{key}: DDP differs from one process")
    rows_one = list(csv.DictReader((tmp_path / "one" / "metrics.csv").open()))
    rows_two = list(csv.DictReader((ddp_runs / "supervised" / "metrics.csv").open()))
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_two]
    assert float(rows_two[-1]["val_accuracy"]) == pytest.approx(float(rows_one[-1]["val_accuracy"]), abs=1e-6), (
        "sharded evaluation must count every sample once"
    )
    assert float(rows_two[-1]["loss"]) == pytest.approx(float(rows_one[-1]["loss"]), rel=1e-5)


@pytest.mark.slow
def test_ddp_advmixup_completes_and_resumes_bit_for_bit(ddp_runs: Path) -> None:
    summary = json.loads((ddp_runs / "advmixup" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == STEPS and summary["test_accuracy"] > 0.7
    assert_same_weights(ddp_runs / "advmixup", ddp_runs / "advmixup-resumed")
    assert (ddp_runs / "advmixup" / "metrics.csv").read_text() == (ddp_runs / "advmixup-resumed" / "metrics.csv").read_text()
    if (ddp_runs / "advmixup" / "tensorboard").exists():  # the tensorboard extra is installed (tensorboard: auto)
        assert len(list((ddp_runs / "advmixup" / "tensorboard").iterdir())) == 1, "rank 0 alone writes event files"
        assert event_scalars(ddp_runs / "advmixup-resumed") == event_scalars(ddp_runs / "advmixup")


@pytest.mark.parametrize("body_raises", [False, True])
def test_membership_meets_the_peers_only_after_a_finished_body_and_always_leaves(body_raises: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-process gloo group: a failed rank must not wait at a barrier its dead peers never reach."""
    import torch.distributed as dist

    barriers: list[int] = []
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: barriers.append(1))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    with pytest.raises(RuntimeError) if body_raises else contextlib.nullcontext(), distributed.membership():  # re-raised, not swallowed
        if body_raises:
            raise RuntimeError("a rank failed")
    assert not dist.is_initialized()
    assert barriers == ([] if body_raises else [1])


def worker_pids(launcher: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes (its children with a RANK in their environment)."""
    workers = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != launcher:
                continue
            env = dict(kv.split("=", 1) for kv in (stat.parent / "environ").read_text().split("\0") if "=" in kv)
        except (OSError, ValueError, IndexError):  # the process ended while we looked
            continue
        if "RANK" in env:
            workers[int(env["RANK"])] = int(stat.parent.name)
    return workers


@pytest.mark.slow
def test_torchrun_restarts_a_killed_worker_from_the_last_checkpoint(ddp_runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = write_config(tmp_path / "config.yaml", out=run, checkpoint_every=10)
    job = subprocess.Popen(
        [*TORCHRUN, "--max-restarts", "1", "-m", "semimix", "train", "--config", str(config)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: (run / "checkpoints" / "last.pt").exists(), 90, "the first checkpoint")
        time.sleep(random.uniform(0, 0.3))
        rank, pid = random.choice(sorted(worker_pids(job.pid).items()))
        os.kill(pid, signal.SIGKILL)
        killed_at = last(run)["step"]
        output, _ = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode == 0, output[-4000:]
    assert killed_at < STEPS, "the worker was killed after the run ended, so nothing was restarted"
    assert "test accuracy" in output and output.count("run directory:") == 1, "rank 0 alone prints the summary"
    assert_same_weights(ddp_runs / "advmixup", run)
    assert (ddp_runs / "advmixup" / "metrics.csv").read_text() == (run / "metrics.csv").read_text(), f"rank {rank} killed after step {killed_at}"


# ----------------------------------------------------------------------------- one process: kills and resume
def _cli_then_exit(argv: list[str], stderr: Path) -> None:
    """In a forked child: ``semimix`` with these arguments, exiting with its status, stderr to a file."""
    with stderr.open("w") as f, contextlib.redirect_stderr(f):
        status = cli.main(argv)
        f.flush()
    os._exit(status)


@pytest.mark.slow
def test_killed_at_random_moments_then_resumed_ends_bit_identical(tmp_path: Path) -> None:
    """Each attempt is a forked child process (torch already imported, so it starts in
    milliseconds) running the CLI; SIGKILL or SIGTERM lands at a random moment of its training.
    The moments scale with the reference run's duration, so on a fast machine the signals still
    land before the run ends: each attempt lives at most a tenth of the reference run's time, which
    also holds its set-up and evaluations, so it trains well under a tenth of the steps."""
    steps, started = 2 * STEPS, time.monotonic()
    train(moons_config(tmp_path / "reference", steps=steps, checkpoint_every=None))  # checkpoints change nothing
    duration = time.monotonic() - started
    run, stderr = tmp_path / "run", tmp_path / "stderr.txt"
    start = ["train", "--config", str(write_config(tmp_path / "config.yaml", out=run, steps=steps))]
    landed = []
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
        # what a user runs next: a run killed before it wrote its config never started, so it starts again
        argv = ["train", "--resume", str(run), "--quiet"] if (run / "config.yaml").exists() else start
        proc = multiprocessing.get_context("fork").Process(target=_cli_then_exit, args=(argv, stderr))
        proc.start()
        wait_for(lambda: holds_lock(run, proc.pid) or not proc.is_alive(), 60, "training to start")  # noqa: B023  (called within this iteration)
        time.sleep(random.uniform(0.02, 0.1) * duration)
        if proc.is_alive():
            os.kill(proc.pid, sig)
            landed.append(sig.name)
        proc.join(60)
        if landed[-1:] == [sig.name] and sig == signal.SIGTERM:
            assert proc.exitcode == 128 + signal.SIGTERM, stderr.read_text()
            assert f"stopped by SIGTERM at step {last(run)['step']}, checkpoint saved" in stderr.read_text()
    assert len(landed) >= 3, f"only {landed} landed before the run ended; the test proves little"
    if not (run / "config.yaml").exists():
        assert cli.main([*start, "--quiet"]) == 0
    elif not (run / "summary.json").exists():
        resume_trainer(run).run()
    assert_same_weights(tmp_path / "reference", run)
    assert (tmp_path / "reference" / "metrics.csv").read_text() == (run / "metrics.csv").read_text(), "metric rows lost or repeated"
    assert not list(run.rglob("*.tmp")), "the temp files of killed checkpoint writes must be cleaned up on resume"


# ----------------------------------------------------------------------------- NaN / Inf losses
def poison(trainer: Trainer, at_step: int) -> None:
    """Make the consistency term NaN in the step that brings the count to ``at_step``."""
    losses = trainer.method.losses

    def poisoned(batch, ctx):
        terms = losses(batch, ctx)
        if ctx.step + 1 == at_step:
            terms["consistency"] = terms["consistency"] * float("nan")
        return terms

    trainer.method.losses = poisoned


def test_a_nan_loss_stops_with_its_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    trainer = Trainer(moons_config(tmp_path / "run", steps=20, log_every=5, eval_every=5, checkpoint_every=5))
    poison(trainer, at_step=7)
    with pytest.raises(SemimixError, match="loss term consistency became NaN or Inf at step 7.*nonfinite=skip"):
        trainer.run()
    state = last(tmp_path / "run")
    assert state["step"] == 5
    assert all(torch.isfinite(v).all() for v in state["student"].values())
    assert resume_trainer(tmp_path / "run").step == 5, "the last good checkpoint must resume"


def test_nonfinite_skip_drops_the_step_and_trains_on(tmp_path: Path) -> None:
    trainer = Trainer(moons_config(tmp_path / "run", steps=20, nonfinite="skip"))
    poison(trainer, at_step=7)
    summary = trainer.run()
    assert summary["skipped_steps"] == 1 and summary["steps"] == 20
    assert all(torch.isfinite(v).all() for v in last(tmp_path / "run")["student"].values())


# ----------------------------------------------------------------------------- disks and locks
def test_a_second_run_in_a_locked_directory_is_refused_and_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    held = files.lock_run_dir(run)
    try:
        with pytest.raises(SemimixError, match=f"in use by pid {os.getpid()} "):
            train(moons_config(run, steps=4))
        assert not (run / "config.yaml").exists()
    finally:
        os.close(held)
    (run / files.LOCK).write_text("pid 999999 on a-crashed-host\n")  # its owner died: nobody holds the lock
    assert train(moons_config(run, steps=4))["steps"] == 4
    with pytest.raises(SemimixError, match="already holds a run.*--resume"):
        train(moons_config(run, steps=4))


def test_a_lock_released_within_the_wait_is_taken(tmp_path: Path) -> None:
    """A restarted torchrun worker waits for the lock that its killed predecessor's forked data
    workers still hold for a moment; without a wait, the same lock is refused at once."""
    import subprocess
    import sys
    import time

    holder = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(1.5)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(tmp_path / files.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(SemimixError, match="in use"):
            files.lock_run_dir(tmp_path)
        start = time.monotonic()
        os.close(files.lock_run_dir(tmp_path, wait_s=30))
        assert time.monotonic() - start < 10
    finally:
        proc.wait()


def test_an_unwritable_or_full_run_directory_fails_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SemimixError, match="cannot write to run directory .*a-file/run .*choose a writable --out"):
        train(moons_config(tmp_path / "a-file" / "run", steps=4))
    free = files.shutil.disk_usage(tmp_path)._replace(free=1024)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda _: free)
    with pytest.raises(SemimixError, match=r"0\.0 MiB free but its checkpoints need about .* MiB"):
        train(moons_config(tmp_path / "full", steps=4))
    assert not (tmp_path / "full").exists(), "a run that never started leaves no directory"


def test_a_full_disk_mid_checkpoint_leaves_the_previous_one_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(moons_config(tmp_path / "run", steps=12), until_step=4)
    trainer = resume_trainer(tmp_path / "run")
    save = torch.save

    def full_disk(obj: Any, f: Any) -> None:
        save(obj, f)  # most of the bytes reach the temp file, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(SemimixError, match="last.pt \\(No space left on device\\); the files already there are intact.*--resume"):
        trainer.run()
    monkeypatch.undo()
    assert last(tmp_path / "run")["step"] == 4
    assert not list((tmp_path / "run").rglob("*.tmp"))


# ----------------------------------------------------------------------------- files crafted to run code
class RunsCode:
    """Pickles as a call of ``os.system``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(moons_config(run, steps=4), until_step=2)
    marker = tmp_path / "pwned"
    state = last(run)
    state["best"] = RunsCode(marker)
    torch.save(state, run / "checkpoints" / "last.pt")
    with pytest.raises(SemimixError, match=r"refused to load .*last\.pt: it refers to \S*system.*nothing in it was run"):
        resume_trainer(run)
    assert not marker.exists(), "loading the checkpoint ran its code"


def test_yaml_that_would_run_code_and_bad_overrides_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"steps: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SemimixError, match="cannot read config .*evil.yaml"):
        load_yaml(evil)
    assert not marker.exists()
    with pytest.raises(SemimixError, match=r"--set stepz: not a config key \(config keys: .*checkpoint_every.*steps.*no parameter 'stepz'"):
        apply_override({"method": "advmixup"}, "stepz=3")
    values: dict = {}
    apply_override(values, "checkpoint_every=ten")
    with pytest.raises(SemimixError, match="checkpoint_every must be int or NoneType, got 'ten'"):
        moons_config(tmp_path / "run", **values)
    with pytest.raises(SemimixError, match="nonfinite must be one of stop, skip; got 'ignore'"):
        Trainer(moons_config(tmp_path / "run", nonfinite="ignore"))
