"""Opening a finished run: same split, same model, same numbers as its summary; nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semimix.errors import SemimixError
from semimix.runs import load_run


def test_load_run_reproduces_the_summary(finished) -> None:
    run_dir, summary = finished
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    assert load_run(run_dir, "last").evaluate("test")["accuracy"] == pytest.approx(summary["test_accuracy"])
    best = load_run(run_dir, "best")
    assert best.evaluate("test")["accuracy"] == pytest.approx(summary["test_accuracy_at_best_val"])
    assert not best.model.training
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before, "opening a run wrote to it"


def test_load_run_refuses_a_changed_split(finished, tmp_path: Path) -> None:
    import shutil

    run_dir, _ = finished
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    with np.load(copy / "split.npz") as saved:
        split = {k: saved[k] for k in saved.files}
    split["labeled"] = split["labeled"][::-1].copy()
    np.savez(copy / "split.npz", **split)
    with pytest.raises(SemimixError, match="no longer splits"):
        load_run(copy)
    with pytest.raises(SemimixError, match="best or last"):
        load_run(run_dir, "first")
