"""The command line: listings, a short training run, and bad input that ends in one clear line,
a non-zero exit, no traceback and no run directory."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from run_checks import assert_one_line_error, snapshot
from semimix import cli
from semimix.cli import main
from semimix.train.signals import TrainingStopped


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_listings(capsys) -> None:
    code, out, _ = run_cli(capsys, "methods")
    assert code == 0
    for name in (
        "supervised",
        "pi-model",
        "mean-teacher",
        "vat",
        "vat-entmin",
        "pseudo-label",
        "ict",
        "input-mixup",
        "manifold-mixup",
        "advmixup",
        "adv-adv-mixup",
        "advmixup-no-teacher",
    ):
        assert name in out
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "convlarge" in out and "3,125,908" in out
    code, out, _ = run_cli(capsys, "datasets")
    assert code == 0 and "digits" in out and "found" in out
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0 and "digits" in out


def test_a_closed_pipe_ends_the_listing_quietly() -> None:
    """`semimix methods | head -1`: the reader leaves early; no BrokenPipeError traceback follows."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "semimix", "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # nothing is read: the first write hits a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == "", err


def test_train_prints_accuracy_and_run_directory(capsys, tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--steps", "6", "--quiet", "--out", str(out_dir), "--set", "eval_every=3", "--set", "unlabeled_batch_size=16")
    assert code == 0
    assert "test accuracy" in out and str(out_dir) in out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["method"] == "advmixup" and summary["dataset"] == "digits" and summary["steps"] == 6


def write_npz(path: Path, X: np.ndarray, y: np.ndarray, **more: np.ndarray) -> Path:
    np.savez(path, X=X, y=y, **more)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "advmix"], "unknown method 'advmix'; valid methods:"),
        (["--model", "resnet"], "resnet"),
        (["--dataset", "cifar11"], "cifar11"),
        (["--labels", "5"], "label"),
        (["--labels", "5000"], "label"),
        (["--set", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
        (["--set", "epsilon=-1"], "--set epsilon: advmixup.epsilon must be a number > 0; got -1.0"),
        (["--config", "no-such-preset"], "no preset 'no-such-preset'"),
        (["--device", "cuda:7"] if not __import__("torch").cuda.is_available() else ["--device", "tpu"], "device"),
        (["--model", "convlarge"], "convlarge"),  # 8×8 digits are too small for Conv-Large
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path: Path, args: list[str], message: str) -> None:
    out_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--quiet", "--steps", "2", "--out", str(out_dir), *args)
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message.lower() in err.lower(), err
    assert not out_dir.exists(), "a failed run left a directory behind"


def test_bad_user_files(capsys, tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.array([0, 1] * 5 + [-1] * 30)
    nan_X = X.copy()
    nan_X[3, 1] = np.nan
    cases = {
        "nan.npz": (write_npz(tmp_path / "nan.npz", nan_X, y), "nan"),
        "range.npz": (write_npz(tmp_path / "range.npz", X, np.where(y == 1, 7, y)), "label"),
        "garbage.npz": (tmp_path / "garbage.npz", "npz"),
        "missing.csv": (tmp_path / "missing.csv", "not exist"),
    }
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip archive")
    for name, (path, message) in cases.items():
        out_dir = tmp_path / f"run-{name}"
        code, _, err = run_cli(capsys, "train", "--quiet", "--steps", "2", "--dataset", str(path), "--out", str(out_dir))
        assert code != 0 and "Traceback" not in err, (name, err)
        assert message in err.lower(), (name, err)
        assert not out_dir.exists()


@pytest.mark.parametrize("with_val", [False, True], ids=["no-eval-split", "val-split-only"])
def test_user_npz_trains(capsys, tmp_path: Path, with_val: bool) -> None:
    """A file with no test split: the summary says so in words, and `semimix eval` offers only a split the run has."""
    rng = np.random.default_rng(0)
    y_true = np.arange(120) % 2
    X = rng.normal(size=(120, 2)) + 3 * y_true[:, None]
    y = np.where(np.arange(120) < 10, y_true, -1)
    path = write_npz(tmp_path / "mine.npz", X, y, **({"X_val": X[:20], "y_val": y_true[:20]} if with_val else {}))
    out_dir = tmp_path / "run"
    code, out, err = run_cli(
        capsys, "train", "--quiet", "--steps", "4", "--dataset", str(path), "--method", "vat", "--out", str(out_dir), "--set", "epsilon=0.5"
    )
    assert code == 0, err
    best = "best-on-validation checkpoint: step 4" if with_val else "no validation split, so no best-on-validation checkpoint"
    assert f"no test split, so no test accuracy [{best}]" in out and "n/a" not in out, out
    assert json.loads((out_dir / "summary.json").read_text())["labels"] == 10
    before = snapshot(out_dir)
    code, _, err = run_cli(capsys, "eval", str(out_dir))
    assert_one_line_error(code, err, "the run's dataset has no test split" + ("; choose --split val" if with_val else ", nor any other to evaluate on"))
    if not with_val:
        code, _, err = run_cli(capsys, "eval", str(out_dir), "--split", "val")
        assert_one_line_error(code, err, "the run's dataset has no val split, nor any other to evaluate on")
    assert snapshot(out_dir) == before, "a refused evaluation changed the run directory"
    if with_val:
        assert run_cli(capsys, "eval", str(out_dir), "--split", "val")[0] == 0  # the split the message offers


def test_an_interrupt_says_interrupted_or_why_it_stopped(capsys, monkeypatch) -> None:
    """Ctrl-C while a command starts up raises a KeyboardInterrupt without a message."""
    stopped = "stopped by SIGTERM at step 3; continue with --resume"
    cases = [(KeyboardInterrupt(), "interrupted", signal.SIGINT), (TrainingStopped(stopped, signal.SIGTERM), stopped, signal.SIGTERM)]
    for exc, message, signum in cases:

        def stop(_: object, exc: KeyboardInterrupt = exc) -> int:
            raise exc

        monkeypatch.setitem(cli.COMMANDS, "methods", stop)
        code, out, err = run_cli(capsys, "methods")
        assert (code, out, err) == (128 + signum, "", f"semimix: {message}\n")


def test_resume_flag_errors(capsys, tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "no such directory" in err
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path), "--method", "vat")
    assert code == 2 and "--resume continues a run" in err
