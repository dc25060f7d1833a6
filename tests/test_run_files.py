"""What a run directory holds and how `semimix eval` and the API read it: a lost best.pt is refused
(never replaced by the last weights under its name), "best" of a run without validation is its
final weights under that name, and every file semimix writes has the mode the umask gives new files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from run_checks import assert_one_line_error, snapshot
from semimix import api
from semimix.cli import main
from semimix.errors import SemimixError

UMASK = 0o002  # not the usual 0o022, so that files created 0600 or 0644 both stand out from 0o664


def _main(*argv: str | Path) -> str:
    """What a successful command prints (a module-scoped fixture cannot use capsys)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(a) for a in argv]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def no_validation(tmp_path_factory) -> tuple[Path, str, str]:
    """A 6-step digits run without a validation split, trained and evaluated by default (test split,
    best checkpoint) under UMASK; the run directory and what the two commands printed."""
    run_dir = tmp_path_factory.mktemp("no-val") / "run"
    previous = os.umask(UMASK)
    try:
        trained = _main(
            "train", "--steps", "6", "--quiet", "--out", run_dir, "--set", "eval_every=3", "--set", "unlabeled_batch_size=16", "--set", "data.val_size=0"
        )
        evaluated = _main("eval", run_dir)
    finally:
        os.umask(previous)
    return run_dir, trained, evaluated


def test_a_lost_best_checkpoint_is_refused_not_replaced_by_the_last(finished, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished[0], run_dir)
    (run_dir / "checkpoints" / "best.pt").unlink()
    before = snapshot(run_dir)
    code = main(["eval", str(run_dir)])
    assert_one_line_error(code, capsys.readouterr().err, "best.pt is missing", "--checkpoint last", "restore best.pt")
    with pytest.raises(SemimixError, match="best.pt is missing"):
        api.load_run(run_dir, "best")
    with pytest.raises(SemimixError, match="best.pt is missing"):
        api.predict(run_dir, np.zeros((1, 1, 8, 8), dtype=np.float32), checkpoint="best")
    assert snapshot(run_dir) == before, "a refused evaluation changed the run directory"
    assert main(["eval", str(run_dir), "--checkpoint", "last"]) == 0  # the way out that the message names


def test_summary_of_a_run_without_validation_names_no_best_checkpoint(no_validation) -> None:
    _, trained, _ = no_validation
    assert "test accuracy 0." in trained and "[no validation split, so no best-on-validation checkpoint]" in trained, trained
    assert "step 0" not in trained


def test_best_of_a_run_without_validation_is_its_final_weights_by_that_name(no_validation) -> None:
    run_dir, _, evaluated = no_validation
    assert "final checkpoint (step 6, teacher; no validation split, so no best-on-validation one)" in evaluated, evaluated
    assert sorted(p.name for p in run_dir.glob("eval*.json")) == ["eval-test-final.json", "eval.json"]
    assert (run_dir / "reliability-test-final.png").exists()
    assert not [p.name for p in run_dir.rglob("*best*")]
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["checkpoint"] == "final" and report["step"] == 6
    run = api.load_run(run_dir, "best")
    assert run.checkpoint == "final"
    x, _ = run.split("test")
    np.testing.assert_array_equal(api.predict(run_dir, x, checkpoint="best"), api.predict(run_dir, x, checkpoint="last"))


def test_every_file_semimix_writes_has_the_mode_the_umask_gives(no_validation) -> None:
    run_dir = no_validation[0]
    modes = {str(p.relative_to(run_dir)): oct(p.stat().st_mode & 0o777) for p in run_dir.rglob("*") if p.is_file()}
    written = {".lock", "config.yaml", "metrics.csv", "split.npz", "summary.json", "checkpoints/last.pt", "eval.json", "reliability-test-final.png"}
    assert written <= set(modes), modes
    assert set(modes.values()) == {oct(0o666 & ~UMASK)}, modes
