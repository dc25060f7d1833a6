"""``semimix bench grid`` / ``bench table``: validation before training, the CSV and table from
run directories, reproducible cells, and resuming a half-finished grid without retraining."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from semimix import api
from semimix.bench.grid import collect, draw_figure, load_grid, write_outputs
from semimix.cli import main
from semimix.train.config import config_from_dict

TINY = {"steps": 5, "eval_every": 5, "progress": False, "threads": 1}


def _grid_file(tmp_path: Path, **spec) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"name": "tiny", "config": "two-moons", "methods": ["supervised"], "labels": [10], "seeds": [0, 1], "set": TINY, **spec}))
    return path


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines()))


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"method": ["vat"]}, "unknown key(s) method; valid keys: name, config, methods"),
        ({"methods": ["supervised", "nope"]}, "unknown method 'nope'"),
        ({"methods": [{"method": "vat", "lable": "x"}]}, "unknown key(s) lable; valid keys: label, method, set"),
        ({"set": {"stpes": 5}}, "set: --set stpes: not a config key"),
        ({"set": {"steps": "many"}}, "steps"),
        ({"cells": {"two-moons/40": {"set": {"steps": 1}}}}, "cells key(s) two-moons/40 match no column; valid: two-moons/10"),
        ({"metric": "accuracy"}, "unknown metric 'accuracy'; valid metrics: test_error, test_error_at_best_val"),
    ],
)
def test_bad_grid_fails_before_training(tmp_path: Path, spec: dict, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "grid", str(_grid_file(tmp_path, **spec)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def _fake_run(run_dir: Path, accuracy: float, wall: float) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("{}")
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "steps": 5,
                "eval_model": "teacher",
                "test_accuracy": accuracy,
                "test_accuracy_at_best_val": accuracy - 0.1,
                "best_val_accuracy": 0.5,
                "wall_time_s": wall,
                "device": "cpu",
            }
        )
    )


def test_csv_and_table_from_hand_made_run_dirs(tmp_path: Path) -> None:
    path = _grid_file(
        tmp_path, methods=["supervised", {"label": "VAT (ε=1)", "method": "vat"}], labels=[10, 20], paper={"VAT (ε=1)": {"two-moons/20": "12.5 ± 0.3"}}
    )
    out = tmp_path / "out"
    _fake_run(out / "two-moons-10/supervised/seed0", 0.9, 10)
    _fake_run(out / "two-moons-10/supervised/seed1", 0.8, 20)
    _fake_run(out / "two-moons-20/vat-1/seed1", 0.95, 3)
    (out / "two-moons-20/vat-1/seed0").mkdir(parents=True)
    (out / "two-moons-20/vat-1/seed0/config.yaml").write_text("{}")
    (out / "two-moons-20/vat-1/seed0/metrics.csv").write_text("step,loss\n2,0.5\n4,0.4\n")
    csv_path, table_path, figure_path = write_outputs(load_grid(path, out=out))
    assert figure_path.read_bytes().startswith(b"\x89PNG")
    rows = _csv(csv_path)
    assert [(r["row"], r["labels"], r["seed"], r["status"], r["steps"]) for r in rows] == [
        ("supervised", "10", "0", "done", "5"),
        ("supervised", "10", "1", "done", "5"),
        ("VAT (ε=1)", "10", "0", "todo", ""),
        ("VAT (ε=1)", "10", "1", "todo", ""),
        ("supervised", "20", "0", "todo", ""),
        ("supervised", "20", "1", "todo", ""),
        ("VAT (ε=1)", "20", "0", "partial", "4"),
        ("VAT (ε=1)", "20", "1", "done", "5"),
    ]
    assert float(rows[0]["test_error"]) == pytest.approx(10) and float(rows[0]["test_error_at_best_val"]) == pytest.approx(20)
    assert rows[0]["wall_s"] == "10" and rows[0]["eval_model"] == "teacher" and rows[0]["method"] == "supervised"
    table = table_path.read_text()
    assert "| method | two-moons/10 | two-moons/20 |" in table
    # errors 10 and 20: mean 15, sample std sqrt((25 + 25) / 1) = 7.07; walls 10 and 20 s
    assert "| supervised | 15.00 ± 7.07 (n=2, 15 s) | — |" in table
    assert "| VAT (ε=1) | — | 5.00 (n=1/2, 3 s) |" in table
    assert "| VAT (ε=1) (paper) | — | 12.5 ± 0.3 |" in table
    assert "final model" in table and "3/8 runs done" in table
    assert "runs made on: cpu\n" in table  # summaries from before semimix recorded hardware


def test_figure_draws_each_seed_the_mean_and_the_paper_number(tmp_path: Path) -> None:
    path = _grid_file(tmp_path, methods=["supervised", "vat"], labels=[10, 20], paper={"vat": {"two-moons/20": "12.5 ± 0.3", "two-moons/10": "—"}})
    out = tmp_path / "out"
    _fake_run(out / "two-moons-10/supervised/seed0", 0.9, 10)
    _fake_run(out / "two-moons-10/supervised/seed1", 0.8, 20)
    _fake_run(out / "two-moons-20/vat/seed0", 0.95, 3)
    grid = load_grid(path, out=out)
    fig = draw_figure(grid, collect(grid))
    left, right = fig.axes
    assert (left.get_title(), right.get_title()) == ("two-moons/10", "two-moons/20")
    ticks = sorted(zip(left.get_yticks(), (t.get_text() for t in left.get_yticklabels())), reverse=True)
    assert ticks == [(1.0, "supervised"), (0.0, "vat")]  # the first row on top
    # bars: supervised's mean error (10 + 20) / 2 = 15 at y = 1 (top); vat has no finished seed in two-moons/10
    assert [(p.get_width(), p.get_y() + p.get_height() / 2) for p in left.patches] == [(pytest.approx(15.0), 1.0)]
    dots = [c.get_offsets().tolist() for c in left.collections]
    assert dots == [[[pytest.approx(10.0), 1.0], [pytest.approx(20.0), 1.0]]]  # "—" is no paper number: no cross
    # two-moons/20: vat's one seed (error 5) at y = 0, and the paper's 12.5 as a second marker on its line
    assert [c.get_offsets().tolist() for c in right.collections] == [[[pytest.approx(5.0), 0.0]], [[12.5, 0.0]]]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["one seed", "paper"]


def test_table_says_what_the_runs_ran_on(tmp_path: Path) -> None:
    path = _grid_file(tmp_path)
    out = tmp_path / "out"
    for seed, threads in ((0, 1), (1, 2)):
        _fake_run(out / f"two-moons-10/supervised/seed{seed}", 0.9, 10)
        summary_path = out / f"two-moons-10/supervised/seed{seed}/summary.json"
        summary = json.loads(summary_path.read_text())
        summary_path.write_text(json.dumps({**summary, "hardware": "Some CPU", "threads": threads, "torch_version": "2.13.0"}))
    csv_path, table_path, _ = write_outputs(load_grid(path, out=out))
    assert [(r["hardware"], r["threads"]) for r in _csv(csv_path)] == [("Some CPU", "1"), ("Some CPU", "2")]
    assert "runs made on: cpu (Some CPU, 1 thread, torch 2.13.0); cpu (Some CPU, 2 threads, torch 2.13.0)\n" in table_path.read_text()


def test_grid_reproducible_resumable_and_table_regenerates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = _grid_file(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    for out in (first, second):
        assert main(["bench", "grid", str(path), "--out", str(out)]) == 0
    errors = [r["test_error"] for r in _csv(first / "runs.csv")]
    assert errors == [r["test_error"] for r in _csv(second / "runs.csv")] and all(errors)

    assert (first / "figure.png").exists()
    written = {name: (first / name).read_text() for name in ("runs.csv", "table.md")}
    (first / "runs.csv").unlink()
    assert main(["bench", "table", str(first)]) == 0
    assert {name: (first / name).read_text() for name in written} == written

    # half-finished: seed 0 done, seed 1 stopped at step 2 with a checkpoint
    done_mtime = (first / "two-moons-10/supervised/seed0/summary.json").stat().st_mtime_ns
    seed1 = first / "two-moons-10/supervised/seed1"
    shutil.rmtree(seed1)
    api.train(config_from_dict(load_grid(path, out=first).cells[1].values), until_step=2)
    calls: list[str] = []
    monkeypatch.setattr(api, "train", lambda cfg, *a: calls.append("train") or pytest.fail("trained a cell"))
    real_resume = api.resume
    monkeypatch.setattr(api, "resume", lambda run_dir, **kw: calls.append("resume") or real_resume(run_dir, **kw))
    capsys.readouterr()
    assert main(["bench", "grid", str(path), "--out", str(first), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == ["done", str(first / "two-moons-10/supervised/seed0"), "partial", str(seed1)]
    assert main(["bench", "grid", str(path), "--out", str(first)]) == 0
    assert calls == ["resume"]
    assert (first / "two-moons-10/supervised/seed0/summary.json").stat().st_mtime_ns == done_mtime
    assert [r["test_error"] for r in _csv(first / "runs.csv")] == errors  # the resumed run ends as the uninterrupted one


def test_smoke_run_is_not_taken_for_the_real_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _grid_file(tmp_path, seeds=[0])
    out = str(tmp_path / "out")
    assert main(["bench", "grid", str(path), "--out", out, "--set", "steps=2"]) == 0
    assert main(["bench", "grid", str(path), "--out", out]) == 2
    assert "holds a run with another config (differs in: steps)" in capsys.readouterr().err


def test_a_committed_record_carries_finished_cells_to_a_fresh_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``record:`` keeps each finished cell's summary, config and metrics (no checkpoints) beside the
    grid file; a checkout without the run directories trains nothing and gives the same table."""
    path = _grid_file(tmp_path, record="kept")
    first, fresh = tmp_path / "first", tmp_path / "fresh"
    assert main(["bench", "grid", str(path), "--out", str(first)]) == 0
    for seed in (0, 1):
        kept = tmp_path / "kept" / f"two-moons-10/supervised/seed{seed}"
        assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "metrics.csv", "summary.json"]
        assert (kept / "summary.json").read_text() == (first / f"two-moons-10/supervised/seed{seed}/summary.json").read_text()
    monkeypatch.setattr(api, "train", lambda cfg, *a: pytest.fail("trained a recorded cell"))
    capsys.readouterr()
    assert main(["bench", "grid", str(path), "--out", str(fresh), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == [
        "done",
        str(tmp_path / "kept/two-moons-10/supervised/seed0"),
        "done",
        str(tmp_path / "kept/two-moons-10/supervised/seed1"),
    ]
    assert main(["bench", "grid", str(path), "--out", str(fresh)]) == 0
    assert (fresh / "table.md").read_text() == (first / "table.md").read_text()
    assert [r["test_error"] for r in _csv(fresh / "runs.csv")] == [r["test_error"] for r in _csv(first / "runs.csv")]
    # a record made before the grid changed is not taken for the new cell's run
    assert main(["bench", "grid", str(path), "--out", str(fresh), "--set", "steps=6"]) == 2
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'kept/two-moons-10/supervised/seed0'} holds a run with another config (differs in: steps); delete that directory to rerun the cell" in err
    )


def test_only_the_cells_own_method_params_must_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A preset lists every row's method_params; changing another row's (say one column's AdvMixup β)
    leaves a finished supervised cell valid, and so does setting one of its own to the default; changing
    its own does not."""
    path = _grid_file(tmp_path, seeds=[0])
    out = str(tmp_path / "out")
    assert main(["bench", "grid", str(path), "--out", out]) == 0
    for override in ("method_params.advmixup.weight=50", "method_params.supervised.loss=ce"):
        assert main(["bench", "grid", str(path), "--out", out, "--set", override]) == 0
        assert "done, skipped" in capsys.readouterr().out
    assert main(["bench", "grid", str(path), "--out", out, "--set", "method_params.supervised.mixup_alpha=1.0"]) == 2
    assert "differs in: method_params" in capsys.readouterr().err


GRIDS = sorted((Path(__file__).resolve().parent.parent / "benchmarks" / "grids").glob("*.yaml"))


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_repository_grids_validate(path: Path, tmp_path: Path) -> None:
    """Every grid under benchmarks/grids builds all its cells' configs (a typo fails here, not hours into a grid)."""
    from semimix.bench.grid import load_grid

    grid = load_grid(path, out=tmp_path)
    assert grid.cells and path.read_text().startswith("#"), "a grid has cells and a leading comment citing its source"


def test_table_names_the_base_config_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from semimix.bench.grid import _shown_path

    monkeypatch.chdir(tmp_path)
    assert _shown_path(tmp_path / "configs" / "a.yaml") == str(Path("configs") / "a.yaml")
    assert _shown_path("/elsewhere/a.yaml") == "/elsewhere/a.yaml"  # outside it: unchanged


def test_grid_processes_leave_each_other_their_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cell claimed by another grid process is left to it (and listed as running); once the claim
    is gone — that process ended or was killed — the next grid run trains the cell."""
    from semimix import files

    path = _grid_file(tmp_path)
    out = tmp_path / "out"
    claimed = load_grid(path, out=out).cells[0]
    claimed.claim_path.parent.mkdir(parents=True)
    claim = files.try_lock(claimed.claim_path)  # flock: a second descriptor, even in this process, is refused
    assert claim is not None and files.try_lock(claimed.claim_path) is None
    try:
        assert main(["bench", "grid", str(path), "--out", str(out)]) == 0
        assert "seed 0: being trained by another grid process, skipped" in capsys.readouterr().out
        assert [(r["seed"], r["status"]) for r in _csv(out / "runs.csv")] == [("0", "running"), ("1", "done")]
        assert not claimed.run_dir.exists()
        assert main(["bench", "grid", str(path), "--out", str(out), "--dry-run"]) == 0
        assert capsys.readouterr().out.split()[::2] == ["running", "done"]
    finally:
        os.close(claim)
    assert main(["bench", "grid", str(path), "--out", str(out)]) == 0
    assert [(r["seed"], r["status"]) for r in _csv(out / "runs.csv")] == [("0", "done"), ("1", "done")]
    assert files.try_lock(claimed.claim_path) is not None  # the grid let go of its claims


def test_a_claimed_cell_finished_meanwhile_is_not_retrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Between the loop's look at a cell and its claim, another process may finish the cell: the
    grid looks again once it holds the claim."""
    from semimix import files

    path = _grid_file(tmp_path, seeds=[0])
    cell = load_grid(path, out=tmp_path / "out").cells[0]
    real_train, real_try_lock = api.train, files.try_lock

    def finished_meanwhile(lock_path: Path) -> int | None:
        monkeypatch.setattr(files, "try_lock", real_try_lock)
        real_train(config_from_dict(dict(cell.values)))  # the other process
        return real_try_lock(lock_path)

    monkeypatch.setattr(files, "try_lock", finished_meanwhile)
    monkeypatch.setattr(api, "train", lambda *a, **k: pytest.fail("trained a finished cell again"))
    assert main(["bench", "grid", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "seed 0: finished by another grid process, skipped" in capsys.readouterr().out
    assert _csv(tmp_path / "out" / "runs.csv")[0]["status"] == "done"


def test_cells_run_seed_by_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row at the first seed before any at the second: a grid stopped early fills the whole table."""
    trained: list[tuple[str, int]] = []

    def fake_train(cfg, *args):
        trained.append((cfg.method, cfg.seed))
        return {"test_accuracy": 0.5, "wall_time_s": 1.0}

    monkeypatch.setattr(api, "train", fake_train)
    path = _grid_file(tmp_path, methods=["supervised", "vat"], labels=[10, 20])
    assert main(["bench", "grid", str(path), "--out", str(tmp_path / "out")]) == 0
    assert trained == [("supervised", 0), ("vat", 0), ("supervised", 0), ("vat", 0), ("supervised", 1), ("vat", 1), ("supervised", 1), ("vat", 1)]


def test_a_worker_trains_only_the_rows_columns_and_seeds_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--row / --column / --seed pick cells (a row by label or directory name, a column as dataset/labels
    or by directory name); the table still lists every cell of the grid."""
    trained: list[tuple[str, int, int]] = []

    def fake_train(cfg, *args):
        trained.append((cfg.method, cfg.data.labels, cfg.seed))
        return {"test_accuracy": 0.5, "wall_time_s": 1.0}

    monkeypatch.setattr(api, "train", fake_train)
    path = _grid_file(tmp_path, methods=["supervised", {"label": "VAT (eps 1)", "method": "vat"}], labels=[10, 20])
    out = str(tmp_path / "out")
    assert main(["bench", "grid", str(path), "--out", out, "--row", "vat-eps-1", "--column", "two-moons/20", "--seed", "1"]) == 0
    assert trained == [("vat", 20, 1)]
    assert len(_csv(tmp_path / "out" / "runs.csv")) == 8
    trained.clear()
    assert main(["bench", "grid", str(path), "--out", out, "--row", "VAT (eps 1)", "--row", "supervised", "--column", "two-moons-10", "--seed", "0"]) == 0
    assert trained == [("supervised", 10, 0), ("vat", 10, 0)]
    capsys.readouterr()
    assert main(["bench", "grid", str(path), "--out", out, "--dry-run", "--seed", "1", "--column", "two-moons-20"]) == 0
    assert [Path(p).relative_to(out).parts[1:] for p in capsys.readouterr().out.split()[1::2]] == [("supervised", "seed1"), ("vat-eps-1", "seed1")]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--row", "nope"], "--row nope: not in grid tiny; its rows: supervised"),
        (["--column", "two-moons/40"], "--column two-moons/40: not in grid tiny; its columns: two-moons/10"),
        (["--seed", "7"], "--seed 7: not in grid tiny; its seeds: 0, 1"),
    ],
)
def test_naming_a_cell_the_grid_lacks_fails_before_training(tmp_path: Path, option: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "grid", str(_grid_file(tmp_path)), "--out", str(tmp_path / "out"), *option]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
