"""Manifold Mixup's 2-D figures (Verma et al., ICLR 2019 submission): Fig. 1 and Fig. 2 on two spirals.

Fig. 1: a network with a 2-D bottleneck in the middle (``bottleneck-mlp``) trained on two spirals
with every training point labeled, by the baseline (``supervised``), Input Mixup (α = 1.0) and
Manifold Mixup applied only at the bottleneck. Top row: the decision boundary in input space over
the data. Bottom row: the 2-D bottleneck states of the training points coloured by class, over the
classifier's p(class 1) on the hidden plane, with the hidden states of points drawn uniformly in
input space in black. The paper's claims: Input Mixup underfits, Manifold Mixup fits the training
data; Manifold Mixup concentrates each class's hidden states into a tight region and leaves broad
low-confidence regions in the hidden space, also for the off-data (black) points.

Fig. 2: "test NLL using the interpolated target values on interpolated points", against the
interpolation coefficient. For random pairs (a, b) of test points and λ in [0, 1], the NLL of the
soft target λ·y_a + (1−λ)·y_b at the model's prediction for
  * input ("visible") space: f(λ·x_a + (1−λ)·x_b), and
  * hidden space: g(λ·h(x_a) + (1−λ)·h(x_b)), h = the network up to the bottleneck, g = the rest,
averaged over the pairs. The paper's claim: Manifold Mixup lowers the hidden-space curve a lot
and changes the input-space curve little. (The paper's Fig. 2 is on its image benchmarks; here it
is the same measurement on the spirals' test set, at the bottleneck.)
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semimix import files, plots
from semimix.api import load_config
from semimix.data import load_dataset
from semimix.data.bundle import DataBundle, in_memory
from semimix.errors import SemimixError
from semimix.eval import evaluate
from semimix.models.base import StagedNet
from semimix.ops import one_hot
from semimix.studies.two_circles import decision_boundary, distances_to_polylines, evaluate_grid, square_extent
from semimix.train.trainer import Trainer

PRESET = "two-spirals"
METHODS = ("supervised", "input-mixup", "manifold-mixup")
TITLES = {"supervised": "Baseline", "input-mixup": "Input Mixup", "manifold-mixup": "Manifold Mixup"}
LAMBDA_POINTS = 21  # λ = 0, 0.05, ..., 1
PAIRS = 2000  # random pairs of distinct test points for Fig. 2
OFF_DATA_POINTS = 1000  # points drawn uniformly over the input square: Fig. 1's black points
OFF_DATA_DISTANCE = 0.1  # "off the data": farther than this from every training point (2σ of the noise; arms are 1/3 apart)
LOW_CONFIDENCE = 0.9  # a grid cell (input or hidden plane) is low-confidence when max_c p(c) is below this
GRID_RESOLUTION = 400  # grid points per axis, input plane and hidden plane
INPUT_PADDING = 0.15  # input units around the data
HIDDEN_PADDING = 0.15  # fraction of the hidden states' span around them


# ----------------------------------------------------------------------------- the model's two halves
def _staged(model: nn.Module, layer: int) -> StagedNet:
    """``model`` as the staged model it must be (with ``.stages``) for interpolation at ``layer`` > 0."""
    if layer and not hasattr(model, "stages"):
        raise SemimixError(f"hidden-space interpolation at layer {layer} needs a staged model (with .stages); got {type(model).__name__}")
    return cast(StagedNet, model)  # a StagedNet, or a model with stages alike (checked above where they are used)


def encode(model: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """h_k(x): the state before ``model.stages[layer]`` (``x`` itself for layer 0)."""
    staged = _staged(model, layer)
    h = x
    for stage in staged.stages[:layer] if layer else ():
        h = stage(h)
    return h


def decode(model: nn.Module, h: torch.Tensor, layer: int) -> torch.Tensor:
    """g_k(h): logits from the state before ``model.stages[layer]`` (``model(h)`` for layer 0)."""
    if layer == 0:
        return model(h)
    for stage in _staged(model, layer).stages[layer:]:
        h = stage(h)
    return h


class Tail(nn.Module):
    """g_k as a module, for evaluating the classifier over a grid of hidden states."""

    def __init__(self, model: nn.Module, layer: int) -> None:
        super().__init__()
        _staged(model, layer)
        self.model, self.layer = model, layer

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return decode(self.model, h, self.layer)


def bottleneck_layer(model: nn.Module) -> int:
    """The layer whose incoming state is the 2-D bottleneck (or the model's first mixable layer)."""
    return int(getattr(model, "bottleneck_layer", _staged(model, 0).mixable_layers[0]))


# ----------------------------------------------------------------------------- Fig. 2
@torch.no_grad()
def interpolation_nll(
    model: nn.Module,
    x_a: torch.Tensor,
    y_a: torch.Tensor,
    x_b: torch.Tensor,
    y_b: torch.Tensor,
    lambdas: np.ndarray | list[float],
    num_classes: int,
    layer: int = 0,
) -> np.ndarray:
    """NLL of the interpolated target λ·y_a + (1−λ)·y_b at the interpolated point, shape
    (len(lambdas), n_pairs): row i is λ = lambdas[i], column j the pair (x_a[j], x_b[j]).

    ``layer`` 0 interpolates the inputs, f(λ·x_a + (1−λ)·x_b); ``layer`` k > 0 the hidden states
    before ``model.stages[k]``, g_k(λ·h_k(x_a) + (1−λ)·h_k(x_b)). The model runs in eval mode.
    λ = 1 is the plain NLL of (x_a, y_a), λ = 0 that of (x_b, y_b), whatever the layer.
    """
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        x_a, x_b = x_a.to(device).float(), x_b.to(device).float()
        h_a, h_b = encode(model, x_a, layer), encode(model, x_b, layer)
        t_a, t_b = one_hot(y_a.to(device), num_classes), one_hot(y_b.to(device), num_classes)
        rows = []
        for lam in lambdas:
            lam = float(lam)
            logits = decode(model, lam * h_a + (1.0 - lam) * h_b, layer).double()
            target = (lam * t_a + (1.0 - lam) * t_b).double()
            rows.append(-(target * F.log_softmax(logits, dim=1)).sum(dim=1).cpu().numpy())
        return np.stack(rows)
    finally:
        model.train(was_training)


def random_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` ordered pairs (a, b) of distinct indices in range(n), drawn uniformly."""
    if n < 2:
        raise SemimixError(f"interpolation paths need at least 2 test points, got {n}")
    a = rng.integers(n, size=count)
    b = (a + rng.integers(1, n, size=count)) % n
    return a, b


def _curve(nll: np.ndarray) -> dict[str, Any]:
    """Mean and standard error over the pairs at each λ, and the mean over λ and pairs."""
    sem = nll.std(axis=1, ddof=1) / np.sqrt(nll.shape[1]) if nll.shape[1] > 1 else np.zeros(nll.shape[0])
    return {"mean": nll.mean(axis=1).tolist(), "sem": sem.tolist(), "average": float(nll.mean())}


# ----------------------------------------------------------------------------- Fig. 1 measurements
def hidden_concentration(h: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """How tightly each class's hidden states sit, scale-free: per class the RMS distance to the
    class mean, divided by the distance between the two class means (lower = more concentrated);
    and the share of the class's variance along its first principal axis (1 = on a line)."""
    means = [h[y == c].mean(axis=0) for c in (0, 1)]
    between = float(np.linalg.norm(means[0] - means[1]))
    per_class = []
    for c in (0, 1):
        centred = h[y == c] - means[c]
        rms = float(np.sqrt((centred**2).sum(axis=1).mean()))
        eig = np.linalg.eigvalsh(np.cov(centred.T)) if len(centred) > 1 else np.zeros(h.shape[1])
        per_class.append({"rms_radius": rms, "principal_share": float(eig.max() / max(eig.sum(), 1e-300))})
    ratio = float(np.mean([p["rms_radius"] for p in per_class]) / max(between, 1e-300))
    return {"within_between_ratio": ratio, "between_means": between, "per_class": per_class}


def boundary_length(polylines: list[np.ndarray]) -> float:
    """Total length of the boundary's polylines (a wigglier boundary is longer)."""
    return float(sum(np.linalg.norm(np.diff(line, axis=0), axis=1).sum() for line in polylines))


def _confidence(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=1).max(dim=1).values.numpy()


def _nearest_distance(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(points), torch.from_numpy(reference)).min(dim=1).values.numpy()


# ----------------------------------------------------------------------------- the study
def _fresh_run_dir(path: Path) -> Path:
    """A rerun replaces its own earlier run (the trainer would append to its metrics), but never
    deletes a folder that is not a semimix run."""
    if path.exists():
        if not (path / "config.yaml").exists():
            raise SemimixError(f"{path} exists and is not a semimix run; remove it or choose another --out")
        shutil.rmtree(path)
    return path


def _hidden_extent(h: np.ndarray) -> tuple[float, float, float, float]:
    span = float((h.max(axis=0) - h.min(axis=0)).max())
    return square_extent(h, HIDDEN_PADDING * span if span > 0 else 1.0)


def _measure(
    trainer: Trainer,
    data: DataBundle,
    extent: tuple[float, float, float, float],
    off_x: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    lambdas: np.ndarray,
    resolution: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every number of one trained model, and what its panels need."""
    model = trainer.eval_model.eval()
    layer = bottleneck_layer(model)
    x_train, y_train = in_memory(data.x_labeled), data.y_labeled.numpy()
    with torch.no_grad():
        h_train = encode(model, x_train.float(), layer).numpy().astype(np.float64)
        off_t = torch.from_numpy(off_x.astype(np.float32))
        h_off = encode(model, off_t, layer).numpy().astype(np.float64)
        off_conf = _confidence(model(off_t))
    input_grid = evaluate_grid(model, extent, resolution)
    input_boundary = decision_boundary(input_grid)
    hidden_ext = _hidden_extent(h_train)
    tail = Tail(model, layer)
    hidden_grid = evaluate_grid(tail, hidden_ext, resolution)
    hidden_boundary = decision_boundary(hidden_grid)
    hidden_conf = np.maximum(hidden_grid.prob, 1.0 - hidden_grid.prob)
    input_conf = np.maximum(input_grid.prob, 1.0 - input_grid.prob)
    far = _nearest_distance(off_x, x_train.numpy().astype(np.float64)) > OFF_DATA_DISTANCE
    to_boundary = distances_to_polylines(x_train.numpy(), input_boundary)

    a, b = pairs
    xt, yt = data.x_test, data.y_test
    curves = {space: interpolation_nll(model, xt[a], yt[a], xt[b], yt[b], lambdas, data.num_classes, layer=k) for space, k in (("input", 0), ("hidden", layer))}
    different = yt[a].numpy() != yt[b].numpy()
    train_eval, test_eval = evaluate(model, x_train, data.y_labeled), evaluate(model, xt, yt)
    params = dataclasses.asdict(trainer.method.params)
    result = {
        "params": {k: v for k, v in params.items() if k in ("alpha", "mixup_alpha", "layers")},
        "train_accuracy": train_eval["accuracy"],
        "train_nll": train_eval["nll"],
        "test_accuracy": test_eval["accuracy"],
        "test_nll": test_eval["nll"],
        "input_boundary_length": boundary_length(input_boundary),
        "input_boundary_pieces": len(input_boundary),
        "input_grid_low_confidence_fraction": float((input_conf < LOW_CONFIDENCE).mean()),
        "train_to_boundary": {
            "mean": float(to_boundary.mean()) if np.isfinite(to_boundary).all() else None,
            "min": float(to_boundary.min()) if np.isfinite(to_boundary).all() else None,
        },
        "hidden": {
            **hidden_concentration(h_train, y_train),
            "grid_mean_confidence": float(hidden_conf.mean()),
            "grid_low_confidence_fraction": float((hidden_conf < LOW_CONFIDENCE).mean()),
            "extent": list(hidden_ext),
        },
        "uniform_x": {
            "mean_confidence": float(off_conf.mean()),
            "off_data_mean_confidence": float(off_conf[far].mean()) if far.any() else None,
            "off_data_count": int(far.sum()),
            "hidden_inside_extent_fraction": float(
                ((h_off[:, 0] >= hidden_ext[0]) & (h_off[:, 0] <= hidden_ext[1]) & (h_off[:, 1] >= hidden_ext[2]) & (h_off[:, 1] <= hidden_ext[3])).mean()
            ),
        },
        "interpolation": {
            space: {**_curve(nll), "different_class": _curve(nll[:, different]), "same_class": _curve(nll[:, ~different])} for space, nll in curves.items()
        },
        "bottleneck_layer": layer,
        "run_dir": str(trainer.run_dir),
    }
    panels = {
        "input_grid": input_grid,
        "input_boundary": input_boundary,
        "hidden_grid": hidden_grid,
        "hidden_boundary": hidden_boundary,
        "h_train": h_train,
        "h_off": h_off,
    }
    return result, panels


def run_study(out: str | Path, steps: int | None = None, seed: int = 0, progress: bool = True, resolution: int = GRID_RESOLUTION) -> dict[str, Any]:
    """Train the baseline, Input Mixup and Manifold Mixup on two spirals with the 2-D bottleneck MLP
    (preset ``two-spirals``; ``steps`` None keeps its step count) and write ``fig1.png`` (decision
    boundaries and bottleneck states), ``fig2.png`` (test NLL along input- and hidden-space
    interpolation paths) and ``results.json`` under ``out``, runs under ``out/runs``; return the
    results. ``resolution`` (grid points per axis) trades the maps' detail for speed."""
    return _run_study(Path(out), steps, seed, progress, resolution)


def _run_study(out: Path, steps: int | None, seed: int, progress: bool, resolution: int) -> dict[str, Any]:
    started = time.perf_counter()
    base = load_config(PRESET)
    steps = base.steps if steps is None else steps
    data = load_dataset(base.data, seed)  # one seeded draw shared by every method
    class_names = data.class_names or ["class 0", "class 1"]
    x_train, y_train = in_memory(data.x_labeled).numpy(), data.y_labeled.numpy()
    extent = square_extent(np.concatenate([x_train, in_memory(data.x_val).numpy(), in_memory(data.x_test).numpy()]), INPUT_PADDING)
    rng = np.random.default_rng(seed)
    off_x = rng.uniform([extent[0], extent[2]], [extent[1], extent[3]], size=(OFF_DATA_POINTS, 2))
    pairs = random_pairs(len(data.x_test), PAIRS, rng)
    lambdas = np.linspace(0.0, 1.0, LAMBDA_POINTS)

    fig1, axes = plots.new_figure_grid(2, len(METHODS))
    results: dict[str, Any] = {}
    for k, method in enumerate(METHODS):
        cfg = load_config(PRESET, method=method, steps=steps, seed=seed, progress=progress)
        cfg.out = str(_fresh_run_dir(out / "runs" / method))
        trainer = Trainer(cfg, data=data)
        trainer.run()
        result, p = _measure(trainer, data, extent, off_x, pairs, lambdas, resolution)
        results[method] = result
        if progress:
            print(
                f"{method}: train acc {result['train_accuracy']:.3f}, test acc {result['test_accuracy']:.3f}, "
                f"test NLL {result['test_nll']:.4f}, hidden-path NLL {result['interpolation']['hidden']['average']:.3f}",
                file=sys.stderr,
            )
        title, letter = TITLES[method], "abcdef"
        alpha = result["params"].get("alpha")
        name = f"{title} (α={alpha:g})" if alpha is not None and method != "supervised" else title
        g = p["input_grid"]
        plots.draw_class_map(
            axes[0, k],
            g.xs,
            g.ys,
            g.prob,
            p["input_boundary"],
            x_train,
            y_train,
            class_names,
            f"({letter[k]}) {name}: input space\ntrain acc {result['train_accuracy']:.3f}, test acc {result['test_accuracy']:.3f}, "
            f"test NLL {result['test_nll']:.3f}",
        )
        hg, hid = p["hidden_grid"], result["hidden"]
        plots.draw_class_map(
            axes[1, k],
            hg.xs,
            hg.ys,
            hg.prob,
            p["hidden_boundary"],
            p["h_train"],
            y_train,
            class_names,
            f"({letter[k + 3]}) {name}: 2-D bottleneck states\nwithin/between spread {hid['within_between_ratio']:.3f}, "
            f"confidence on uniform x {result['uniform_x']['mean_confidence']:.3f}",
            axis_labels=("$h_1$", "$h_2$"),
            off_points=p["h_off"],
            off_label="uniform in x",
        )
    plots.save_figure(fig1, out / "fig1.png")

    fig2, axes2 = plots.new_figure(2)
    for ax, space, what in ((axes2[0], "input", "(a) interpolating in input space"), (axes2[1], "hidden", "(b) interpolating in the 2-D bottleneck")):
        curves = {TITLES[m]: (np.array(r["interpolation"][space]["mean"]), np.array(r["interpolation"][space]["sem"])) for m, r in results.items()}
        plots.draw_interpolation_curves(ax, lambdas, curves, f"{what}\n{PAIRS} random test pairs, mean ± s.e.")
    plots.save_figure(fig2, out / "fig2.png")

    summary = {
        "study": "Manifold Mixup Figs. 1-2: two spirals, 2-D bottleneck MLP, all training points labeled",
        "dataset": data.describe(),
        "seed": seed,
        "steps": steps,
        "grid_resolution": resolution,
        "input_extent": list(extent),
        "lambdas": lambdas.tolist(),
        "pairs": PAIRS,
        "interpolation": "NLL of λ·y_a + (1−λ)·y_b at f(λ·x_a + (1−λ)·x_b) (input) or g(λ·h(x_a) + (1−λ)·h(x_b)) "
        "(hidden, at the bottleneck), random pairs of test points",
        "off_data": f"{OFF_DATA_POINTS} points uniform over the input extent; 'off_data' = farther than {OFF_DATA_DISTANCE} from every training point",
        "low_confidence": f"grid cells with max p < {LOW_CONFIDENCE}: input plane over the input extent, hidden plane over the training states' square extent",
        "methods": results,
        "figures": {"fig1": str(out / "fig1.png"), "fig2": str(out / "fig2.png")},
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    files.write_json(out / "results.json", summary)
    return summary


__all__ = [
    "METHODS",
    "Tail",
    "boundary_length",
    "bottleneck_layer",
    "decode",
    "encode",
    "hidden_concentration",
    "interpolation_nll",
    "random_pairs",
    "run_study",
]
