"""The two-circles study: boundary tracing and distances on models with a known boundary, and a
tiny end-to-end run that writes every figure and the results file."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.semi_supervised import LabelSpreading
from torch import nn

from semimix.api import load_config
from semimix.data import load_dataset
from semimix.data.bundle import DataBundle
from semimix.data.toys import CIRCLES_NOISE, INNER_RADIUS, LEGACY_INNER_RADIUS, OUTER_RADIUS, load_circles, load_circles_spread_labels
from semimix.methods import build_method
from semimix.studies.two_circles import (
    BASELINE,
    METHODS,
    decision_boundary,
    distances_to_polylines,
    evaluate_grid,
    min_distance,
    run_study,
    search_grid,
)

EXTENT = (-1.5, 1.5, -1.5, 1.5)
RESOLUTION = 301  # spacing 0.01


class MarginModel(nn.Module):
    """A two-class "model" whose logit margin is ``margin(x)``: its boundary is known exactly."""

    def __init__(self, margin: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.margin = margin
        self.scale = nn.Parameter(torch.ones(()))  # predict_logits finds the device from a parameter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.zeros(len(x)), self.scale * self.margin(x)], dim=1)


LINE = MarginModel(lambda x: x[:, 0] - 0.3)  # class 1 right of x = 0.3; piecewise linear like a ReLU net
CIRCLE = MarginModel(lambda x: x.norm(dim=1) - 0.9)  # class 1 outside radius 0.9; a curved boundary
CONSTANT = MarginModel(lambda x: -torch.ones(len(x)))  # class 0 everywhere: no boundary


def test_distance_to_a_straight_boundary_is_exact() -> None:
    grid = evaluate_grid(LINE, EXTENT, RESOLUTION)
    boundary = decision_boundary(grid)
    points = np.array([[1.0, 0.0], [0.3, 0.2], [-0.5, -1.0]])
    assert distances_to_polylines(points, boundary) == pytest.approx([0.7, 0.0, 0.8], abs=1e-6)
    assert grid.prob[0, 0] < 0.5 < grid.prob[0, -1]  # prob[i, j] sits at (xs[j], ys[i])


def test_distance_to_a_circular_boundary_within_grid_tolerance() -> None:
    boundary = decision_boundary(evaluate_grid(CIRCLE, EXTENT, RESOLUTION))
    angles = np.linspace(0, 2 * np.pi, 7)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert distances_to_polylines(ring, boundary) == pytest.approx(np.full(7, 0.1), abs=0.01)
    assert min_distance(np.zeros((1, 2)), boundary) == pytest.approx(0.9, abs=0.01)


def test_no_boundary_gives_no_distance() -> None:
    boundary = decision_boundary(evaluate_grid(CONSTANT, EXTENT, 50))
    assert boundary == []
    assert min_distance(np.zeros((3, 2)), boundary) is None


def test_preset_keeps_the_papers_setting() -> None:
    cfg = load_config("two-circles")
    assert cfg.data.dataset == "two-circles" and cfg.model == "mlp"
    assert cfg.model_params["widths"] == [100, 50]
    assert {cfg.method_params[m]["weight"] for m in METHODS} == {10.0}


def test_preset_trains_the_mixup_methods_on_plain_cross_entropy() -> None:
    """Mixing labeled points on rings labels chords through the other ring: the study compares regularisers only."""
    cfg = load_config("two-circles")
    for method in ("ict", "advmixup"):
        assert build_method(method, cfg.method_params[method]).params.supervised_mixup_alpha == 0.0


def test_spread_labels_sit_evenly_round_the_same_rings() -> None:
    cfg = load_config("two-circles").data
    random_draw = load_dataset(cfg, 3)
    spread = load_dataset(dataclasses.replace(cfg, dataset="two-circles-spread"), 3)
    rings = [np.sort(torch.cat([d.x_labeled, d.x_unlabeled]).numpy(), axis=0) for d in (random_draw, spread)]
    np.testing.assert_array_equal(rings[0], rings[1])  # same rings, other labels
    for c, radius in enumerate((INNER_RADIUS, OUTER_RADIUS)):
        x = spread.x_labeled[spread.y_labeled == c].numpy()
        assert len(x) == 5
        angles = np.sort(np.arctan2(x[:, 1], x[:, 0]))
        gaps = np.diff(np.append(angles, angles[0] + 2 * np.pi))
        noise = np.sqrt(2) * CIRCLES_NOISE / radius  # a gap's angular noise (std) on this ring
        assert gaps == pytest.approx(np.full(5, 2 * np.pi / 5), abs=3 * noise)  # 21 ring points apart, plus noise


@pytest.mark.slow
def test_tiny_study_writes_figures_and_results(tmp_path) -> None:
    out = tmp_path / "circles"
    results = run_study(out, steps=20, seed=1, search=False, progress=False, resolution=150)
    for name in ("data.png", "fig4.png", *(f"{m}.png" for m in (*METHODS, BASELINE))):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text()) == results
    assert results["radii"] == [INNER_RADIUS, OUTER_RADIUS]
    assert results["grid_resolution"] == 150 and results["grid_spacing"] > 0
    assert set(results["methods"]) == {*METHODS, BASELINE}
    for method, result in results["methods"].items():
        assert {"params", "test_accuracy", "min_distance_train", "min_distance_test", "run_dir", "figure", "search"} <= set(result)
        if method == BASELINE:
            assert result["params"] == {}
        else:
            assert result["params"]["weight"] == 10.0
        assert 0.0 <= result["test_accuracy"] <= 1.0
        for key in ("min_distance_train", "min_distance_test"):
            assert result[key] is None or (math.isfinite(result[key]) and result[key] >= 0)
        assert (out / "runs").is_dir() and str(out / "runs" / method) in result["run_dir"]
        assert result["eval_model"] == ("teacher" if method in ("ict", "advmixup") else "student")
    rerun = run_study(out, steps=20, seed=1, search=False, progress=False, resolution=150)  # replaces its own runs
    assert rerun["methods"] == results["methods"]


def test_training_circles_have_no_gap_wider_than_the_circles_are_apart() -> None:
    """The case study needs labels to travel round each circle: uniform random angles left gaps of
    0.22-0.3 along a circle (at radius 0.8, label spreading failed on them). Each training circle
    is an evenly spaced ring (sklearn's make_circles): its 105 points are 2π/105 rad apart."""
    for seed in (0, 1):
        data = load_dataset(load_config("two-circles").data, seed)
        x = np.concatenate([data.x_labeled.numpy(), data.x_unlabeled.numpy()])
        y = np.concatenate([data.y_labeled.numpy(), data.y_unlabeled_true.numpy()])
        for c in (0, 1):
            angles = np.sort(np.arctan2(x[y == c, 1], x[y == c, 0]))
            assert len(angles) == 105
            gaps = np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]]))
            assert gaps.max() < 2 * 2 * np.pi / 105  # the noise moves a point by ~0.01 rad at most
            assert gaps.sum() == pytest.approx(2 * np.pi)


# sklearn's LabelSpreading with its default kernels (knn: 7 neighbours, rbf: γ = 20) and α = 0.2 on
# the study's draws. With random labels tol is 1e-15, not 1e-3: at α = 0.2 a label's weight shrinks
# 5× per hop (3 ring points), so the default tol stops after 5 hops and leaves the ring points further
# from a label at class 0 on any geometry. (rbf on random labels scores 0.71-0.96 here, tol or not.)
LABEL_SPREADING: dict[str, tuple[Callable[..., DataBundle], dict[str, Any]]] = {
    "knn, random labels": (load_circles, {"kernel": "knn", "tol": 1e-15}),
    "knn, spread labels": (load_circles_spread_labels, {"kernel": "knn"}),
    "rbf, spread labels": (load_circles_spread_labels, {"kernel": "rbf"}),
}
SPREADING_SEEDS = range(5)


def label_spreading_accuracy(case: str, inner_radius: float, seed: int) -> float:
    """Accuracy on the unlabeled training points of label spreading from the study's 10 labels."""
    load, settings = LABEL_SPREADING[case]
    data = load(load_config("two-circles").data, seed, inner_radius=inner_radius)  # the study's draw
    x = np.concatenate([data.x_labeled.numpy(), data.x_unlabeled.numpy()])
    y = np.concatenate([data.y_labeled.numpy(), np.full(len(data.x_unlabeled), -1)])
    spread = LabelSpreading(**settings).fit(x, y)
    return float(np.mean(spread.transduction_[len(data.x_labeled) :] == data.y_unlabeled_true.numpy()))


@pytest.mark.parametrize("case", LABEL_SPREADING)
def test_cluster_assumption_holds_on_the_default_rings(case: str) -> None:
    """The data carry the answer: from the 10 labels, label spreading classifies every ring point."""
    assert min(label_spreading_accuracy(case, INNER_RADIUS, seed) for seed in SPREADING_SEEDS) >= 0.99


@pytest.mark.parametrize("case", LABEL_SPREADING)
def test_cluster_assumption_fails_on_the_legacy_rings(case: str) -> None:
    """The check can fail: rings 0.2 apart are linked in the 7-NN graph (0.54-0.89 here)."""
    assert max(label_spreading_accuracy(case, LEGACY_INNER_RADIUS, seed) for seed in SPREADING_SEEDS) < 0.99


def test_epsilon_reaches_half_the_ring_spacing() -> None:
    """ε up to the midway circle: 0.25 on the default rings, the earlier grid on the legacy ones."""
    preset = load_config("two-circles").method_params
    for method in ("vat", "advmixup"):
        assert max(search_grid(method)["epsilon"]) == preset[method]["epsilon"] == (OUTER_RADIUS - INNER_RADIUS) / 2
        assert search_grid(method, LEGACY_INNER_RADIUS)["epsilon"] == (0.02, 0.05, 0.1)
    assert search_grid("ict", LEGACY_INNER_RADIUS) == search_grid("ict")


@pytest.mark.slow
def test_study_with_spread_labels_trains_on_that_draw(tmp_path) -> None:
    results = run_study(tmp_path / "spread", steps=5, seed=0, search=False, progress=False, resolution=50, spread_labels=True)
    assert "two-circles-spread" in json.dumps(results["dataset"])
    for result in results["methods"].values():
        assert load_config(f"{result['run_dir']}/config.yaml").data.dataset == "two-circles-spread"
