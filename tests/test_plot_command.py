"""`semimix plot`: training curves of one or several runs from their metrics.csv, and decision
boundaries of runs on 2-D data; bad input ends in a SemimixError."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from semimix.api import load_config, train
from semimix.commands import plot as plot_command
from semimix.errors import SemimixError
from semimix.eval.curves import load_curves, plotted_quantities, read_metrics

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plot-runs")
    made = {
        "ict": load_config("digits", method="ict", model="mlp", steps=6, eval_every=3, log_every=3, unlabeled_batch_size=32, progress=False),
        "supervised": load_config("digits", method="supervised", model="mlp", steps=4, eval_every=2, log_every=2, progress=False),
        "moons": load_config("two-moons", method="vat", steps=4, eval_every=2, log_every=2, progress=False),
    }
    for name, cfg in made.items():
        cfg.out = str(root / name)
        train(cfg)
    return {name: root / name for name in made}


def run_plot(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    plot_command.add_parser(parser.add_subparsers(dest="command"))
    return plot_command.run(parser.parse_args(["plot", *map(str, argv)]))


def test_curves_of_two_runs_share_panels(runs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figs" / "curves.png"
    assert run_plot(runs["ict"], runs["supervised"], "--out", out) == 0
    assert out.read_bytes()[:4] == PNG and str(out) in capsys.readouterr().out
    assert not list(runs["ict"].glob("boundary-*.png"))  # digits is not 2-D: its dataset is never loaded for a boundary
    curves = [load_curves(runs["ict"]), load_curves(runs["supervised"])]
    assert [c.label for c in curves] == ["ict (ict)", "supervised (supervised)"]
    quantities = plotted_quantities(curves)
    assert quantities[0] == "loss" and quantities[-3:] == ["lr", "val_accuracy", "val_nll"] and "ramp" not in quantities
    assert set(curves[0].columns) - {"lr", "ramp", "val_accuracy", "val_nll"} <= set(quantities)  # every ICT loss term
    steps, acc = curves[1].series("val_accuracy")
    assert steps.tolist() == [2.0, 4.0] and len(acc) == 2


def test_a_2d_run_also_gets_its_decision_boundary(runs, capsys) -> None:
    assert run_plot(runs["moons"], "--resolution", "40", "--checkpoint", "last") == 0
    printed = capsys.readouterr().out
    for name in ("curves.png", "boundary-last.png"):
        assert (runs["moons"] / name).read_bytes()[:4] == PNG and name in printed


def test_metrics_with_empty_cells_read_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,lr,ramp,loss,val_accuracy,val_nll\n2,0.1,0.5,1.5,,\n3,,,,0.8,nan\n")
    columns = read_metrics(path)
    assert columns["step"].tolist() == [2.0, 3.0] and columns["loss"][0] == 1.5
    assert math.isnan(columns["loss"][1]) and math.isnan(columns["val_accuracy"][0]) and math.isnan(columns["val_nll"][1])
    path.write_text("step,loss\n2,oops\n")
    with pytest.raises(SemimixError, match="damaged"):
        read_metrics(path)


def test_may_be_two_d_judges_by_name() -> None:
    assert plot_command.may_be_two_d("two-moons") and plot_command.may_be_two_d("spirals") and plot_command.may_be_two_d("mine.npz")
    assert not plot_command.may_be_two_d("digits") and not plot_command.may_be_two_d("cifar10")


def test_plot_bad_input_is_one_clear_error(runs, tmp_path: Path) -> None:
    with pytest.raises(SemimixError, match="not a semimix run"):
        run_plot(runs["ict"], tmp_path)
    with pytest.raises(SemimixError, match="no such directory"):
        run_plot(tmp_path / "missing")
    with pytest.raises(SemimixError, match="unknown image type"):
        run_plot(runs["ict"], "--out", tmp_path / "curves.xyz")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SemimixError, match="cannot write"):
        run_plot(runs["ict"], "--out", blocker / "curves.png")
