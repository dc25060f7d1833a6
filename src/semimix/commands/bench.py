"""``semimix bench speed``: step time of several methods on one model and synthetic data, with each
method's pass count and the time that count predicts (see ``semimix.bench.speed``).
``semimix bench grid`` / ``bench table``: a resumable methods × datasets × labels × seeds grid and
its CSV and Markdown table (see ``semimix.bench.grid``)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "bench"


def _methods(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME, help="benchmarks: 'bench speed' times training steps of several methods; 'bench grid' runs a paper-style grid, 'bench table' tabulates it"
    )
    kinds = p.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    s = kinds.add_parser(
        "speed",
        help="median step time, samples/s, peak memory and measured/predicted-by-pass-count per method",
        description="Times full training steps (batch production included) of each method on synthetic data in one "
        "process, the methods interleaved over rounds, and compares each with the time its forward/backward pass "
        "count predicts from single-pass costs measured on the same model.",
    )
    s.add_argument("--methods", type=_methods, default=["supervised", "ict", "advmixup"], help="comma-separated method names")
    s.add_argument("--model", default="convlarge", help="model name (see 'semimix models')")
    s.add_argument("--image-size", type=int, default=32, help="side of the synthetic 3-channel images (default 32)")
    s.add_argument("--labeled-batch", type=int, default=32)
    s.add_argument("--unlabeled-batch", type=int, default=128)
    s.add_argument("--steps", type=int, default=10, help="timed steps per method (default 10)")
    s.add_argument("--warmup", type=int, default=2, help="untimed steps per method first (default 2)")
    s.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    s.add_argument("--compile", action="store_true", help="torch.compile the models")
    s.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast: auto (where the device has bf16 units, as in training), bf16 or fp32",
    )
    s.add_argument("--memory-format", choices=("auto", "channels-last", "contiguous"), default="auto", help="auto: channels-last where bf16 runs")
    s.add_argument("--json", metavar="FILE", help="also write the results to this JSON file")
    g = kinds.add_parser(
        "grid",
        help="train methods × datasets × label counts × seeds from a grid YAML, resumably; writes runs.csv, table.md and figure.png",
        description="Runs every cell of the grid in turn, one run directory each under OUT/<dataset>-<labels>/<row>/seed<k>: "
        "finished cells are skipped, interrupted ones resumed. Every cell's config is validated before anything trains. "
        "After each cell OUT/runs.csv, OUT/table.md and OUT/figure.png are rewritten. Several processes may run the same grid at once "
        "(e.g. one per GPU, or with --set threads=1 one per core): each trains the cells no other is training.",
    )
    g.add_argument("grid", metavar="GRID.yaml", help="the grid file (see README: Benchmark grids)")
    g.add_argument("--out", help="grid directory (default runs/grids/<name>)")
    g.add_argument("--data-dir", help="data.data_dir of every cell")
    g.add_argument("--dry-run", action="store_true", help="list the cells and their status (done / running / partial / todo); train nothing")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key of every cell, after the grid's own (e.g. steps=5)")
    g.add_argument("--row", action="append", default=[], metavar="LABEL", help="train (or list) only this row's cells: its label or directory name; repeatable")
    g.add_argument("--column", action="append", default=[], metavar="DATASET/LABELS", help="only this column's cells (cifar10/1000 or cifar10-1000)")
    g.add_argument("--seed", action="append", default=[], type=int, metavar="N", help="only this seed's cells (the table still covers the whole grid)")
    t = kinds.add_parser("table", help="rewrite runs.csv, table.md and figure.png of a grid directory from its run directories; never trains")
    t.add_argument("dir", metavar="DIR", help="the grid directory")
    t.add_argument("--grid", metavar="GRID.yaml", help="the grid file (default: the DIR/grid.yaml the grid saved)")
    return p


def run(args: argparse.Namespace) -> int:
    return {"speed": _speed, "grid": _grid, "table": _table}[args.bench](args)


def _grid(args: argparse.Namespace) -> int:
    from semimix.bench.grid import check_started_cells, load_grid, run_grid, select_cells

    grid = load_grid(args.grid, args.out, args.set, args.data_dir)
    cells = select_cells(grid, args.row, args.column, args.seed)
    if not args.dry_run:
        run_grid(grid, cells=cells)
        print(f"wrote {grid.out / 'runs.csv'}, {grid.out / 'table.md'} and {grid.out / 'figure.png'}")
        return 0
    check_started_cells(grid)
    for cell in cells:
        print(f"{cell.status():8} {cell.finished_dir() or cell.run_dir}")
    return 0


def _table(args: argparse.Namespace) -> int:
    from semimix.bench.grid import load_grid_dir, write_outputs

    csv_path, table_path, figure_path = write_outputs(load_grid_dir(args.dir, args.grid))
    print(table_path.read_text(), end="")
    print(f"wrote {csv_path}, {table_path} and {figure_path}")
    return 0


def _speed(args: argparse.Namespace) -> int:
    from semimix.bench.speed import SpeedOptions, format_table, measure
    from semimix.files import write_json

    opts = SpeedOptions(
        args.methods,
        args.model,
        args.image_size,
        args.labeled_batch,
        args.unlabeled_batch,
        args.steps,
        args.warmup,
        args.device,
        args.compile,
        args.precision,
        args.memory_format,
    )
    result = measure(opts)
    print(format_table(result))
    if args.json:
        write_json(Path(args.json), result)
        print(f"wrote {args.json}")
    return 0
