"""Issue 24 item 4 as one picture: baseline and mixup test error on MNIST (all labels) at the -cpu preset
(PreActResNet18 width 8, 7000 steps), at 4x the steps and at twice the width, each finished seed a dot and
the paper's numbers as dashed lines. Reads the grids' run directories or committed records; trains nothing.

    python benchmarks/untied_mixup_budget.py --out benchmarks/figures/untied-mixup-mnist-budget.png
"""

from __future__ import annotations

import argparse
from functools import cache
from pathlib import Path

from semimix.bench.grid import collect, load_grid
from semimix.plots import figure, save_figure

GRIDS = Path(__file__).parent / "grids"
# (setting shown on the x axis, grid file, its baseline row, its mixup row)
SETTINGS = (
    ("width 8, 7000 steps\n(the -cpu preset)", "untied-mixup-mnist-budget.yaml", "baseline-CE 7000 steps", "mixUp-CE B(1 1) 7000 steps"),
    ("width 8, 28,000 steps", "untied-mixup-mnist-budget.yaml", "baseline-CE 28000 steps", "mixUp-CE B(1 1) 28000 steps"),
    ("width 16, 7000 steps", "untied-mixup-mnist-width.yaml", "baseline-CE width 16", "mixUp-CE B(1 1) width 16"),
)
PAPER = {"baseline-CE": 0.816, "mixUp-CE B(1,1)": 0.632}  # Table 3, full-width PreActResNet18, 200 epochs


@cache
def records(grid_file: str) -> list[dict]:
    """Every cell of a grid, read once from its run directories or record."""
    return collect(load_grid(GRIDS / grid_file))


def errors(grid_file: str, row: str) -> list[float]:
    """Test errors (%) of the row's finished cells."""
    return [r["test_error"] for r in records(grid_file) if r["row"] == row and r["status"] == "done"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/figures/untied-mixup-mnist-budget.png")
    args = parser.parse_args()
    fig = figure(6.5, 3.8)
    ax = fig.add_subplot()
    for offset, (name, color, index) in zip((-0.1, 0.1), (("baseline-CE", "tab:blue", 2), ("mixUp-CE B(1,1)", "tab:orange", 3))):
        for x, setting in enumerate(SETTINGS):
            values = errors(setting[1], setting[index])
            ax.scatter([x + offset] * len(values), values, color=color, label=name if x == 0 else None, zorder=3)
            print(f"{setting[0].splitlines()[0]:24} {name:16} {values}")
        ax.axhline(PAPER[name], color=color, linestyle="--", linewidth=1, label=f"{name}, paper (200 epochs, full width)")
    ax.set_xticks(range(len(SETTINGS)), [s[0] for s in SETTINGS])
    ax.set_ylabel("MNIST test error %")
    ax.set_title("Untied MixUp Table 3 reduced: mixup's cost shrinks with steps, goes with width", fontsize=9)
    ax.legend(fontsize=7)
    print(f"wrote {save_figure(fig, args.out)}")


if __name__ == "__main__":
    main()
