"""The AdvMixup paper's case study (Sec. IV-A, Fig. 4): VAT, ICT and AdvMixup on two concentric
circles, with the learned decision boundaries and how close they come to the data.

Every method keeps the paper's regularisation weight 10 and the MLP with hidden widths (100, 50);
its own hyperparameters (ε for VAT, α for ICT, ε and α for AdvMixup) are chosen on the validation
split from a small grid. The paper gives no radii: ``inner_radius`` defaults to ``toys.INNER_RADIUS``
(``toys.LEGACY_INNER_RADIUS`` reproduces earlier results). The labels sit at random places on each
ring (the preset's draw) or, with ``spread_labels``, evenly round it (dataset ``two-circles-spread``).
The margin of a model is the smallest Euclidean distance from a point to its p = 0.5 boundary,
measured on polylines traced over a fine grid of the input plane.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contourpy  # matplotlib's own contour tracer (a dependency of matplotlib)
import numpy as np
import torch
from torch import nn

from semimix import files, plots
from semimix.api import load_config
from semimix.data.bundle import DataBundle, in_memory
from semimix.data.toys import CIRCLES_SPREAD_NAME, INNER_RADIUS, OUTER_RADIUS, load_circles, load_circles_spread_labels
from semimix.errors import SemimixError
from semimix.eval import evaluate, predict_logits
from semimix.methods import build_method
from semimix.train.trainer import Trainer

PRESET = "two-circles"
METHODS = ("vat", "ict", "advmixup")
BASELINE = "supervised"  # not in the paper's figure: the 10 labels alone, what each regulariser must beat
# Validation grids. ε (VAT, AdvMixup) runs from twice the noise σ = 0.01 up to half the ring spacing
# (outer − inner radius): a point moved that far reaches the circle midway between the rings, where a
# maximum-margin boundary lies, and a larger ε would ask for smoothness across it. ``search_grid`` cuts
# these steps there: 0.02-0.25 on the default rings (0.5 apart), 0.02-0.1 (the earlier grid) on the
# legacy ones (0.2 apart). α (ICT, AdvMixup) runs from near-identity mixes (0.1) to uniform λ (1.0).
EPSILON_STEPS = (0.02, 0.05, 0.1, 0.25)
SEARCH_GRID: dict[str, dict[str, tuple[float, ...]]] = {
    "vat": {"epsilon": EPSILON_STEPS},
    "ict": {"alpha": (0.1, 0.5, 1.0)},
    "advmixup": {"epsilon": EPSILON_STEPS, "alpha": (0.1, 1.0)},
    BASELINE: {},  # nothing to choose: trained once
}
GRID_RESOLUTION = 800  # grid points per axis for the probability map and the boundary
GRID_PADDING = 0.25  # margin around the data, in input units
TITLES = {"vat": "VAT", "ict": "ICT", "advmixup": "AdvMixup", BASELINE: "Supervised only"}
SYMBOLS = {"weight": "w", "epsilon": "ε", "alpha": "α"}


@dataclass
class ModelGrid:
    """A model evaluated on a square grid: ``prob[i, j]`` and ``margin[i, j]`` at ``(xs[j], ys[i])``.

    ``margin`` is logit₁ − logit₀; its zero set is the p = 0.5 boundary, and unlike p it is
    piecewise linear for a ReLU network, so linear interpolation between grid nodes finds the
    boundary exactly except in the few cells that hold a kink.
    """

    xs: np.ndarray
    ys: np.ndarray
    prob: np.ndarray
    margin: np.ndarray


def square_extent(points: np.ndarray, padding: float = GRID_PADDING) -> tuple[float, float, float, float]:
    """The smallest square (x0, x1, y0, y1) holding ``points`` plus ``padding``: square for equal aspect."""
    lo, hi = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
    (cx, cy), half = (lo + hi) / 2, float((hi - lo).max()) / 2 + padding
    return (float(cx - half), float(cx + half), float(cy - half), float(cy + half))


def evaluate_grid(model: nn.Module, extent: tuple[float, float, float, float], resolution: int = GRID_RESOLUTION) -> ModelGrid:
    """p(class 1) and the logit margin of a two-class ``model`` over ``extent``."""
    xs = np.linspace(extent[0], extent[1], resolution)
    ys = np.linspace(extent[2], extent[3], resolution)
    gx, gy = np.meshgrid(xs, ys)
    inputs = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    logits = predict_logits(model, inputs, batch_size=65536).double()
    shape = (resolution, resolution)
    prob = torch.softmax(logits, dim=1)[:, 1].reshape(shape).numpy()
    margin = (logits[:, 1] - logits[:, 0]).reshape(shape).numpy()
    return ModelGrid(xs, ys, prob, margin)


def decision_boundary(grid: ModelGrid) -> list[np.ndarray]:
    """The p = 0.5 curves as polylines of shape (n, 2); empty if the grid holds one class only."""
    tracer = contourpy.contour_generator(grid.xs, grid.ys, grid.margin, line_type=contourpy.LineType.Separate)
    return [np.asarray(line, dtype=np.float64) for line in tracer.lines(0.0) if len(line) >= 2]


def distances_to_polylines(points: np.ndarray, polylines: list[np.ndarray], chunk: int = 256) -> np.ndarray:
    """Euclidean distance from each point to the nearest segment of ``polylines`` (inf if none).

    Exact for the polylines given; their error against the true boundary is at most about one
    grid spacing, and far less where the boundary is straight within a cell.
    """
    points = np.asarray(points, dtype=np.float64)
    if not polylines:
        return np.full(len(points), np.inf)
    a = np.concatenate([line[:-1] for line in polylines])  # segment starts (m, 2)
    ab = np.concatenate([line[1:] for line in polylines]) - a
    ab_len2 = np.maximum((ab**2).sum(axis=1), 1e-300)
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk, None, :]  # (c, 1, 2)
        t = np.clip(((p - a) * ab).sum(axis=2) / ab_len2, 0.0, 1.0)  # projection onto each segment
        nearest = a + t[..., None] * ab
        out[start : start + chunk] = np.sqrt(((p - nearest) ** 2).sum(axis=2)).min(axis=1)
    return out


def min_distance(points: np.ndarray, polylines: list[np.ndarray]) -> float | None:
    """Smallest distance from ``points`` to the boundary; None (JSON null) if there is no boundary."""
    d = distances_to_polylines(points, polylines).min()
    return float(d) if np.isfinite(d) else None


def _fresh_run_dir(path: Path) -> Path:
    """A rerun of the study replaces its own earlier run there (the trainer would append to its
    metrics), but never deletes a folder that is not a semimix run."""
    if path.exists():
        if not (path / "config.yaml").exists():
            raise SemimixError(f"{path} exists and is not a semimix run; remove it or choose another --out")
        shutil.rmtree(path)
    return path


def _run_name(method: str, params: dict[str, float]) -> str:
    return "-".join([method, *(f"{k}{v:g}" for k, v in sorted(params.items()))])


def search_grid(method: str, inner_radius: float = INNER_RADIUS) -> dict[str, tuple[float, ...]]:
    """``SEARCH_GRID[method]`` with ε at most half the spacing of rings of radii ``inner_radius`` and 1."""
    half_spacing = (OUTER_RADIUS - inner_radius) / 2 + 1e-9  # (1 - 0.8) / 2 is 0.0999...98 in floats
    return {name: tuple(v for v in values if name != "epsilon" or v <= half_spacing) for name, values in SEARCH_GRID[method].items()}


def _candidates(method: str, search: bool, inner_radius: float = INNER_RADIUS) -> list[dict[str, float]]:
    """The grid's settings in order, or just the preset's setting (empty overrides) without search."""
    if not search:
        return [{}]
    grid = search_grid(method, inner_radius)
    return [dict(zip(grid, values)) for values in itertools.product(*grid.values())]


@dataclass
class _Study:
    """What every run of one study shares: the data, the plotting grid and the run settings."""

    data: DataBundle  # every run trains on this draw
    data_overrides: dict[str, str]  # on top of the preset's data section: the dataset of the label placement
    inner_radius: float
    extent: tuple[float, float, float, float]
    resolution: int
    runs: Path
    steps: int
    seed: int
    progress: bool

    def train(self, method: str, overrides: dict[str, float]) -> Trainer:
        cfg = load_config(
            PRESET,
            method=method,
            steps=self.steps,
            seed=self.seed,
            progress=self.progress,
            data=self.data_overrides,
            method_params={method: overrides},
        )
        params = build_method(method, cfg.params_for_method()).params  # the preset's values under the overrides
        cfg.out = str(_fresh_run_dir(self.runs / _run_name(method, {k: getattr(params, k) for k in SEARCH_GRID[method]})))
        trainer = Trainer(cfg, data=self.data)
        trainer.run()
        return trainer

    def select(self, method: str, search: bool) -> tuple[dict[str, Any], ModelGrid, list[np.ndarray]]:
        """Train every candidate and keep the best on validation: accuracy, then the larger
        validation margin, then the earlier candidate. The kept run is the reported one
        (retraining it with the same seed would reproduce it exactly)."""
        data = self.data
        tried: list[dict[str, Any]] = []
        best: tuple[tuple[float, float], Trainer, ModelGrid, list[np.ndarray]] | None = None
        for overrides in _candidates(method, search, self.inner_radius):
            trainer = self.train(method, overrides)
            model = trainer.eval_model
            grid = evaluate_grid(model, self.extent, self.resolution)
            boundary = decision_boundary(grid)
            val_accuracy = evaluate(model, data.x_val, data.y_val)["accuracy"]
            val_margin = min_distance(in_memory(data.x_val).numpy(), boundary)
            shown = (*(("weight",) if method in METHODS else ()), *SEARCH_GRID[method])
            params = {k: getattr(trainer.method.params, k) for k in shown}
            tried.append({"params": params, "val_accuracy": val_accuracy, "val_min_distance": val_margin, "run_dir": str(trainer.run_dir)})
            if self.progress:
                print(f"{method} {params}: validation accuracy {val_accuracy:.3f}, margin {_fmt_distance(val_margin)}", file=sys.stderr)
            key = (val_accuracy, val_margin if val_margin is not None else -1.0)
            if best is None or key > best[0]:
                best = (key, trainer, grid, boundary)
        assert best is not None
        _, trainer, grid, boundary = best
        chosen = next(t for t in tried if t["run_dir"] == str(trainer.run_dir))
        x_train = np.concatenate([in_memory(data.x_labeled).numpy(), in_memory(data.x_unlabeled).numpy()])
        result = {
            "params": chosen["params"],
            "eval_model": trainer.eval_name,
            "val_accuracy": chosen["val_accuracy"],
            "test_accuracy": evaluate(trainer.eval_model, data.x_test, data.y_test)["accuracy"],
            "min_distance_train": min_distance(x_train, boundary),
            "min_distance_test": min_distance(in_memory(data.x_test).numpy(), boundary),
            "run_dir": chosen["run_dir"],
            "search": tried,
        }
        return result, grid, boundary


def _fmt_distance(d: float | None) -> str:
    return "no boundary" if d is None else f"{d:.3f}"


def run_study(
    out: str | Path,
    steps: int = 3000,
    seed: int = 0,
    search: bool = True,
    progress: bool = True,
    resolution: int = GRID_RESOLUTION,
    spread_labels: bool = False,
    inner_radius: float = INNER_RADIUS,
) -> dict[str, Any]:
    """Run VAT, ICT, AdvMixup and the supervised baseline on two-circles; write ``<method>.png``, ``data.png``, ``fig4.png``
    (all panels) and ``results.json`` under ``out``, runs under ``out/runs``; return the results.
    ``resolution`` (grid points per axis) trades the boundary's precision for speed;
    ``spread_labels`` places each ring's labels evenly round it instead of at random;
    ``inner_radius`` is the inner ring's radius (the runs' config.yaml does not record it).
    """
    data_overrides = {"dataset": CIRCLES_SPREAD_NAME} if spread_labels else {}
    load = load_circles_spread_labels if spread_labels else load_circles
    data = load(load_config(PRESET, data=data_overrides).data, seed, inner_radius=inner_radius)
    points = np.concatenate([in_memory(x).numpy() for x in (data.x_labeled, data.x_unlabeled, data.x_val, data.x_test)])
    study = _Study(data, data_overrides, inner_radius, square_extent(points), resolution, Path(out) / "runs", steps, seed, progress)
    return _run_study(study, Path(out), search)


def _run_study(study: _Study, out: Path, search: bool) -> dict[str, Any]:
    started = time.perf_counter()
    data, extent = study.data, study.extent
    class_names = data.class_names or ["class 0", "class 1"]
    assert data.y_unlabeled_true is not None  # generated data: every unlabeled point's class is known
    x_lab, x_unl, y_unl = in_memory(data.x_labeled).numpy(), in_memory(data.x_unlabeled).numpy(), data.y_unlabeled_true.numpy()

    fig, data_axes = plots.new_figure()
    title = f"two circles (radii {study.inner_radius:g}, {OUTER_RADIUS:g}): {len(x_lab)} labeled, {len(x_unl)} unlabeled"
    plots.draw_dataset(data_axes[0], x_unl, y_unl, x_lab, extent, class_names, title)
    plots.save_figure(fig, out / "data.png")
    panels, panel_axes = plots.new_figure(1 + len(METHODS))
    plots.draw_dataset(panel_axes[0], x_unl, y_unl, x_lab, extent, class_names, "(a) dataset")

    results: dict[str, Any] = {}
    for k, method in enumerate((*METHODS, BASELINE), start=1):
        result, grid, boundary = study.select(method, search)
        results[method] = result
        settings = ", ".join(f"{SYMBOLS[p]}={v:g}" for p, v in result["params"].items())
        title = (
            f"{TITLES[method]}{f' ({settings})' if settings else ''}: "
            f"test accuracy {result['test_accuracy']:.3f}\nmin distance to boundary: "
            f"train {_fmt_distance(result['min_distance_train'])}, test {_fmt_distance(result['min_distance_test'])}"
        )
        fig, axes = plots.new_figure()
        figure_panels = [(axes[0], "")] + ([(panel_axes[k], f"({'abcd'[k]}) ")] if method in METHODS else [])
        for ax, prefix in figure_panels:
            plots.draw_decision_boundary(ax, grid.xs, grid.ys, grid.prob, boundary, x_unl, y_unl, x_lab, class_names, prefix + title)
        plots.save_figure(fig, out / f"{method}.png")
        result["figure"] = str(out / f"{method}.png")
    plots.save_figure(panels, out / "fig4.png")

    summary = {
        "study": "AdvMixup Fig. 4: two concentric circles",
        "dataset": data.describe(),
        "radii": [study.inner_radius, OUTER_RADIUS],
        "seed": study.seed,
        "steps": study.steps,
        "search": search,
        "grid_resolution": study.resolution,
        "grid_spacing": (extent[1] - extent[0]) / (study.resolution - 1),
        "distance": "smallest Euclidean distance from a point to the p=0.5 boundary traced on the grid (error about one grid spacing at most)",
        "methods": results,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    files.write_json(out / "results.json", summary)
    return summary
