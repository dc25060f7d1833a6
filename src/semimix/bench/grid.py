"""``semimix bench grid`` / ``bench table``: methods × datasets × label counts × seeds, one run
directory per cell, resumable, summarised as a CSV of every run and a paper-style Markdown table.

Every cell's TrainConfig is built (and validated) when the grid is loaded, so a typo fails before
the first hour of training. The table is made from the run directories alone and never trains, so
``bench table`` after a grid gives exactly the table the grid wrote.

A grid file's ``record:`` names a directory (relative to the grid file) that keeps each finished
cell's small files — summary.json, config.yaml, metrics.csv, not its checkpoints — so the record can
be committed: a grid then spans machines and sessions (a fresh checkout counts the recorded cells as
done, and the table and figure take them in) although its run directories do not travel."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import platform
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from matplotlib.figure import Figure

from semimix import files
from semimix.errors import SemimixError
from semimix.plots import draw_grid_errors, figure, save_figure
from semimix.tables import markdown_table
from semimix.train.config import apply_override, config_from_dict, load_preset, merge, resolve_preset
from semimix.train.fingerprint import training_settings

GRID_KEYS = ("name", "config", "methods", "datasets", "labels", "seeds", "set", "cells", "paper", "metric", "record")
RECORDED = ("summary.json", "config.yaml", "metrics.csv")  # a finished cell's files that the record keeps
ROW_KEYS = ("label", "method", "set")
# metric -> (summary field holding an accuracy, what the table header says the number is)
METRICS = {
    "test_error": ("test_accuracy", "final model (the EMA teacher where the method has one, else the student; eval_model in runs.csv)"),
    "test_error_at_best_val": ("test_accuracy_at_best_val", "best-on-validation checkpoint"),
}
CSV_COLUMNS = (
    "row",
    "method",
    "dataset",
    "labels",
    "seed",
    "steps",
    "status",
    "eval_model",
    "test_error",
    "test_accuracy",
    "test_error_at_best_val",
    "test_accuracy_at_best_val",
    "best_val_accuracy",
    "wall_s",
    "device",
    "hardware",
    "threads",
    "torch_version",
    "run_dir",
)


@dataclass
class Cell:
    row: str
    slug: str
    column: str
    seed: int
    values: dict[str, Any]  # the cell's full config dict, out included
    run_dir: Path
    record_dir: Path | None = None  # where the grid's record keeps this cell once finished

    @property
    def claim_path(self) -> Path:
        """The file a grid process locks while it trains this cell, so that other grid processes
        working through the same grid leave the cell to it."""
        return self.run_dir.parent / f"{self.run_dir.name}.claim"

    def finished_dir(self) -> Path | None:
        """The directory holding this cell's finished run: its run directory, else the grid's record, else None."""
        return next((d for d in (self.run_dir, self.record_dir) if d is not None and (d / "summary.json").exists()), None)

    def progress(self) -> str:
        """done (summary written, here or in the record), partial (started, resumable) or todo."""
        if self.finished_dir() is not None:
            return "done"
        return "partial" if (self.run_dir / "config.yaml").exists() else "todo"

    def status(self) -> str:
        """``progress()``, or running while a grid process holds the cell's claim."""
        progress = self.progress()
        return "running" if progress != "done" and files.is_locked(self.claim_path) else progress


@dataclass
class Grid:
    name: str
    config: str
    rows: list[str]
    columns: list[str]
    seeds: list[int]
    metric: str
    paper: dict[str, dict[str, str]]
    out: Path
    cells: list[Cell] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)  # the grid file with its config path made absolute


def _set(values: dict[str, Any], overrides: dict[str, Any], where: str) -> None:
    """Grid ``set:`` mappings go through the CLI's ``--set`` parser, so keys are checked the same way."""
    if not isinstance(overrides, dict):
        raise SemimixError(f"{where}: 'set' must be a mapping of dotted config keys to values, got {overrides!r}")
    for key, value in overrides.items():
        try:
            apply_override(values, f"{key}={yaml.safe_dump(value, default_flow_style=True)}")
        except SemimixError as exc:
            raise SemimixError(f"{where}: {exc}") from None


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "row"


def _rows(methods: Any, where: str) -> list[tuple[str, str, dict[str, Any]]]:
    from semimix.methods import canonical_method_name

    if not isinstance(methods, list) or not methods:
        raise SemimixError(f"{where}: 'methods' must be a non-empty list of method names or {{label, method, set}} mappings")
    rows = []
    for entry in methods:
        entry = {"method": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or "method" not in entry:
            raise SemimixError(f"{where}: methods entry {entry!r} must be a method name or a mapping with 'method'")
        unknown = sorted(set(entry) - set(ROW_KEYS))
        if unknown:
            raise SemimixError(f"{where}: methods entry has unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(ROW_KEYS)}")
        try:
            method = canonical_method_name(str(entry["method"]))
        except SemimixError as exc:
            raise SemimixError(f"{where}: {exc}") from None
        rows.append((str(entry.get("label", entry["method"])), method, entry.get("set", {})))
    labels = [label for label, _, _ in rows]
    slugs = [_slug(label) for label in labels]
    if len(set(slugs)) < len(slugs):
        raise SemimixError(f"{where}: row labels {labels} do not give distinct directory names; give each row its own label")
    return rows


def _column(dataset: str, labels: Any) -> str:
    return f"{dataset}/{labels}"


def _column_dir(column: str) -> str:
    dataset, _, labels = column.rpartition("/")
    name = Path(dataset).stem if dataset.endswith((".npz", ".csv")) else Path(dataset).name
    return f"{name}-{labels}"


def load_grid(path: str | Path, out: str | Path | None = None, cli_sets: Sequence[str] = (), data_dir: str | None = None) -> Grid:
    """Read and validate a grid file and build every cell's config; trains nothing."""
    path = Path(path)
    if not path.is_file():
        raise SemimixError(f"grid file {path}: no such file")
    spec = files.load_yaml(path)
    where = str(path)
    unknown = sorted(set(spec) - set(GRID_KEYS))
    if unknown:
        raise SemimixError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(GRID_KEYS)}")
    if "config" not in spec:
        raise SemimixError(f"{where}: 'config' (a base config YAML or preset name) is required")
    config = str(spec["config"])
    relative = path.parent / config
    config_path = relative.resolve() if config.endswith((".yaml", ".yml")) or relative.exists() else resolve_preset(config)
    if not Path(config_path).exists():
        raise SemimixError(f"{where}: config {config!r}: no such file ({config_path})")
    base = load_preset(config_path)
    defaults = config_from_dict(dict(base)).data
    metric = spec.get("metric", "test_error")
    if metric not in METRICS:
        raise SemimixError(f"{where}: unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    rows = _rows(spec.get("methods"), where)
    datasets = spec.get("datasets", [defaults.dataset])
    label_counts = spec.get("labels", [defaults.labels])
    seeds = spec.get("seeds", [0])
    for key, value in (("datasets", datasets), ("labels", label_counts), ("seeds", seeds)):
        if not isinstance(value, list) or not value:
            raise SemimixError(f"{where}: {key!r} must be a non-empty list, got {value!r}")
    columns = [_column(d, n) for d in datasets for n in label_counts]
    cells_spec = spec.get("cells", {}) or {}
    paper = spec.get("paper", {}) or {}
    for keys, valid, what in ((cells_spec, columns, "cells"), (paper, [label for label, _, _ in rows], "paper")):
        bad = sorted(set(map(str, keys)) - set(valid))
        if bad:
            raise SemimixError(f"{where}: {what} key(s) {', '.join(bad)} match no {'column' if what == 'cells' else 'row'}; valid: {', '.join(valid)}")
    name = str(spec.get("name", path.stem))
    out_dir = Path(out) if out else Path("runs") / "grids" / name
    record = (path.parent / str(spec["record"])).resolve() if spec.get("record") else None
    grid = Grid(
        name,
        str(config_path),
        [label for label, _, _ in rows],
        columns,
        [int(s) for s in seeds],
        metric,
        {str(k): {str(c): str(v) for c, v in (cols or {}).items()} for k, cols in paper.items()},
        out_dir,
        spec={**spec, "name": name, "config": str(config_path), **({"record": str(record)} if record else {})},
    )
    for dataset in datasets:
        for labels in label_counts:
            column = _column(dataset, labels)
            for label, method, row_set in rows:
                for seed in grid.seeds:
                    cell_path = Path(_column_dir(column)) / _slug(label) / f"seed{seed}"
                    run_dir = out_dir / cell_path
                    values = merge(copy.deepcopy(base), {"method": method, "data": {"dataset": dataset, "labels": labels}, "seed": seed})
                    _set(values, spec.get("set", {}) or {}, f"{where}: set")
                    _set(values, (cells_spec.get(column) or {}).get("set", {}), f"{where}: cells {column}")
                    _set(values, row_set, f"{where}: row {label!r}")
                    for assignment in cli_sets:
                        apply_override(values, assignment)
                    if data_dir is not None:
                        values["data"]["data_dir"] = data_dir
                    values["out"] = str(run_dir)
                    config_from_dict(dict(values))  # validates keys and types now, not hours in
                    grid.cells.append(Cell(label, _slug(label), column, seed, values, run_dir, record / cell_path if record else None))
    return grid


def select_cells(grid: Grid, rows: Sequence[str] = (), columns: Sequence[str] = (), seeds: Sequence[int] = ()) -> list[Cell]:
    """The cells of the named rows, columns and seeds (every one where a filter is empty), so a worker
    can take part of a grid (one seed now, the rest in another session) while its table keeps the whole.
    A row is named by its label or its directory name, a column as dataset/labels or by its directory name."""
    filters: tuple[tuple[str, Sequence[Any], list[Any], Callable[[Cell], tuple[Any, ...]]], ...] = (
        ("row", rows, grid.rows, lambda cell: (cell.row, cell.slug)),
        ("column", columns, grid.columns, lambda cell: (cell.column, _column_dir(cell.column))),
        ("seed", seeds, grid.seeds, lambda cell: (cell.seed,)),
    )
    for what, names, shown, names_of in filters:
        valid = {name for cell in grid.cells for name in names_of(cell)}
        unknown = [str(name) for name in names if name not in valid]
        if unknown:
            raise SemimixError(f"--{what} {', '.join(unknown)}: not in grid {grid.name}; its {what}s: {', '.join(map(str, shown))}")
    return [cell for cell in grid.cells if all(not names or set(names_of(cell)) & set(names) for _, names, _, names_of in filters)]


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    """What decides a run's numbers (the settings its checkpoints are held to on resume)."""
    return training_settings(config_from_dict(dict(values)))


def check_cell_config(cell: Cell) -> None:
    """A started or recorded cell must hold this cell's run: a smoke run (``--set steps=5``) into the
    same directory, or a record made before the grid file changed, would otherwise be counted as the real result."""
    where = cell.finished_dir() or cell.run_dir
    saved = _comparable(files.load_yaml(where / "config.yaml"))
    wanted = _comparable(cell.values)
    if saved != wanted:
        differ = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        fix = "delete that directory to rerun the cell" if where == cell.record_dir else "delete that directory or give the grid another --out"
        raise SemimixError(f"{where} holds a run with another config (differs in: {', '.join(differ)}); {fix}")


def record_finished(grid: Grid) -> None:
    """Copy each finished run's small files into the grid's record (if it has one and lacks them)."""
    for cell in grid.cells:
        if cell.record_dir is None or not (cell.run_dir / "summary.json").exists() or (cell.record_dir / "summary.json").exists():
            continue
        for name in RECORDED:  # summary.json last: a record without it is not counted as done
            if (cell.run_dir / name).exists():
                files.write_text(cell.record_dir / name, (cell.run_dir / name).read_text())


def check_started_cells(grid: Grid) -> None:
    """Every cell with a run directory holds this grid's config (see ``check_cell_config``)."""
    for cell in grid.cells:
        if cell.progress() != "todo":
            check_cell_config(cell)


def run_grid(grid: Grid, log: Callable[[str], None] = print, cells: Sequence[Cell] | None = None) -> None:
    """Train the cells (default: all; see ``select_cells``) that are not done, resuming partial ones,
    rewriting runs.csv, table.md and figure.png of the whole grid after each.

    Several grid processes may work through one grid at once (one per core or GPU, or per machine
    on a shared disk): each claims a cell before training it and leaves cells claimed by another.
    Cells run seed by seed, every row and column at the first seed before any at the second, so a
    grid stopped early still has a number in every table cell."""
    check_started_cells(grid)
    files.write_yaml(grid.out / "grid.yaml", grid.spec)
    record_finished(grid)
    write_outputs(grid)
    elsewhere = 0
    chosen = grid.cells if cells is None else cells
    order = sorted(chosen, key=lambda cell: grid.seeds.index(cell.seed))  # stable: rows and columns keep their order
    for i, cell in enumerate(order, 1):
        where = f"[{i}/{len(order)}] {cell.column} {cell.row} seed {cell.seed}"
        if cell.progress() == "done":
            log(f"{where}: done, skipped")
            continue
        cell.claim_path.parent.mkdir(parents=True, exist_ok=True)
        claim = files.try_lock(cell.claim_path)
        if claim is None:
            elsewhere += 1
            log(f"{where}: being trained by another grid process, skipped")
            continue
        try:
            _train_claimed(cell, where, log)
        finally:
            os.close(claim)
        record_finished(grid)
        write_outputs(grid)
    if elsewhere:
        log(f"{elsewhere} cell(s) were left to other grid processes; runs.csv, table.md and figure.png take them in as they finish")


def _train_claimed(cell: Cell, where: str, log: Callable[[str], None]) -> None:
    from semimix import api

    progress = cell.progress()  # again: another process may have finished it since the loop looked
    if progress == "done":
        log(f"{where}: finished by another grid process, skipped")
        return
    if progress == "partial":
        check_cell_config(cell)  # started by another grid process that has since stopped
    log(f"{where}: {'resuming' if progress == 'partial' else 'training'} in {cell.run_dir}")
    cfg = config_from_dict(dict(cell.values))
    summary = api.resume(cell.run_dir, progress=cfg.progress) if progress == "partial" else api.train(cfg)
    log(f"{where}: test error {_error(summary['test_accuracy']):.2f}% ({_seconds(summary['wall_time_s'])})")


def _error(accuracy: float | None) -> float | None:
    return None if accuracy is None else round(100.0 * (1.0 - accuracy), 4)


def _seconds(wall: float) -> str:
    return f"{wall:.0f} s" if wall >= 100 else f"{wall:.3g} s"


def _last_step(run_dir: Path) -> int | None:
    path = run_dir / "metrics.csv"
    if not path.exists():
        return None
    rows = list(csv.DictReader(path.read_text().splitlines()))
    return int(rows[-1]["step"]) if rows else None


def collect(grid: Grid) -> list[dict[str, Any]]:
    """One record per cell from its run directory or the grid's record (summary.json, else metrics.csv
    for the step reached)."""
    records = []
    for cell in grid.cells:
        dataset, _, labels = cell.column.rpartition("/")
        record: dict[str, Any] = {
            "row": cell.row,
            "method": cell.values["method"],
            "dataset": dataset,
            "labels": labels,
            "seed": cell.seed,
            "status": cell.status(),
            "run_dir": str(cell.finished_dir() or cell.run_dir),
        }
        if record["status"] == "done":
            summary = json.loads((Path(record["run_dir"]) / "summary.json").read_text())
            record.update({k: summary.get(k) for k in ("steps", "eval_model", "test_accuracy", "test_accuracy_at_best_val", "best_val_accuracy")})
            record.update(
                test_error=_error(summary.get("test_accuracy")),
                test_error_at_best_val=_error(summary.get("test_accuracy_at_best_val")),
                wall_s=summary.get("wall_time_s"),
                **{k: summary.get(k) for k in ("device", "hardware", "threads", "torch_version")},
                finished=_finished(summary, Path(record["run_dir"])),
            )
        else:
            record["steps"] = _last_step(cell.run_dir)
        records.append(record)
    return records


def _finished(summary: dict[str, Any], run_dir: Path) -> datetime:
    """When the run ended: summary.json's ``finished_utc``, else (older runs) the file's time, which a
    checkout of a record would reset."""
    if summary.get("finished_utc"):
        return datetime.fromisoformat(summary["finished_utc"])
    return datetime.fromtimestamp((run_dir / "summary.json").stat().st_mtime, timezone.utc)


def format_csv(records: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
    return buffer.getvalue()


def _summarise(values: list[float], walls: list[float], expected: int) -> str:
    if not values:
        return "—"
    n = f"n={len(values)}" if len(values) == expected else f"n={len(values)}/{expected}"
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.2f}{spread} ({n}, {_seconds(statistics.mean(walls))})"


def _shown_path(path: str | Path) -> str:
    """A path relative to the working directory when it lies under it: tables are read in the repo,
    and an absolute path would name the machine that made them."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _ran_on(record: dict[str, Any]) -> str:
    """Where a run ran, as its summary says (runs from before semimix recorded hardware: the device only)."""
    if record.get("hardware") is None:
        return str(record["device"])
    threads = f", {record['threads']} thread{'s' if record['threads'] != 1 else ''}" if record["device"] == "cpu" else ""
    return f"{record['device']} ({record['hardware']}{threads}, torch {record['torch_version']})"


def format_table(grid: Grid, records: list[dict[str, Any]]) -> str:
    """Rows = row labels, columns = dataset/labels, cells ``mean ± sample std (n, mean wall time)``;
    a ``(paper)`` line under each row that ``paper:`` gives numbers for."""
    done = [r for r in records if r["status"] == "done"]
    # the newest run's end, not now: regenerating the table from the same runs gives the same file
    date = max(r["finished"] for r in done).strftime("%Y-%m-%d %H:%M UTC") if done else "no finished runs"
    devices = "; ".join(sorted({_ran_on(r) for r in done})) or "—"
    lines = [
        f"# {grid.name}",
        "",
        f"- base config: `{_shown_path(grid.config)}`",
        f"- number: test error % (mean ± sample std over seeds) of the {METRICS[grid.metric][1]}; in brackets: "
        "finished runs (n=finished/planned while incomplete) and mean training wall time per run",
        f"- table made on: {platform.platform()}, torch {torch.__version__}; runs made on: {devices}",
        f"- last run finished: {date}; {len(done)}/{len(records)} runs done",
        "",
    ]
    rows = []
    for row in grid.rows:
        cells = []
        for column in grid.columns:
            mine = [r for r in done if r["row"] == row and f"{r['dataset']}/{r['labels']}" == column and r[grid.metric] is not None]
            cells.append(_summarise([r[grid.metric] for r in mine], [r["wall_s"] for r in mine], len(grid.seeds)))
        rows.append([row, *cells])
        if row in grid.paper:
            rows.append([f"{row} (paper)", *(grid.paper[row].get(c, "—") for c in grid.columns)])
    return "\n".join(lines) + "\n" + markdown_table(["method", *grid.columns], rows, aligned=False) + "\n"


def _paper_number(text: str) -> float | None:
    """The leading number of a ``paper:`` entry ("12.5 ± 0.3" -> 12.5); None for text such as "—"."""
    match = re.match(r"\s*(\d+(?:\.\d*)?)", text)
    return float(match.group(1)) if match else None


def draw_figure(grid: Grid, records: list[dict[str, Any]]) -> Figure:
    """The table as a picture: one panel per column, each row's finished seeds, mean and paper number."""
    fig = figure(5.5 * len(grid.columns), 1.5 + 0.35 * len(grid.rows))
    axes = fig.subplots(1, len(grid.columns), squeeze=False)[0]
    done = [r for r in records if r["status"] == "done" and r[grid.metric] is not None]
    for ax, column in zip(axes, grid.columns):
        errors = {row: [r[grid.metric] for r in done if r["row"] == row and f"{r['dataset']}/{r['labels']}" == column] for row in grid.rows}
        paper = {row: n for row in grid.rows if (n := _paper_number(grid.paper.get(row, {}).get(column, ""))) is not None}
        draw_grid_errors(ax, errors, paper, column, f"test error % ({METRICS[grid.metric][1].split(' (')[0]})")
    markers: dict[str, Any] = {}  # one legend entry per kind of marker, whichever panel drew it first
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            markers.setdefault(label, handle)
    if markers:
        fig.legend(list(markers.values()), list(markers), loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(grid.name, fontsize=11)
    return fig


def write_outputs(grid: Grid) -> tuple[Path, Path, Path]:
    """Rewrite ``runs.csv``, ``table.md`` and ``figure.png`` (atomically, so a killed grid leaves valid files)."""
    records = collect(grid)
    csv_path, table_path, figure_path = grid.out / "runs.csv", grid.out / "table.md", grid.out / "figure.png"
    files.write_text(csv_path, format_csv(records))
    files.write_text(table_path, format_table(grid, records))
    save_figure(draw_figure(grid, records), figure_path)
    return csv_path, table_path, figure_path


def load_grid_dir(out: str | Path, grid_file: str | Path | None = None) -> Grid:
    """The grid a directory was run from: ``--grid`` if given, else the ``grid.yaml`` the grid saved there."""
    out = Path(out)
    path = Path(grid_file) if grid_file else out / "grid.yaml"
    if not path.exists():
        raise SemimixError(f"{out} has no grid.yaml (written by 'semimix bench grid'); give the grid file with --grid GRID.yaml")
    return load_grid(path, out=out)
