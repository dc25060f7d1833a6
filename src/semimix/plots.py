"""Figures of 2-D problems: the dataset and a model's decision boundary (AdvMixup's Fig. 4).

The functions draw from plain arrays onto a given ``Axes``, so one panel can stand alone
(``save_figure``) or sit beside others in a multi-panel figure. Class 0 is red and class 1 is
blue everywhere, the probability map included, so a point's colour and its background agree
where the model is right. Figures are made as ``matplotlib.figure.Figure`` with an Agg canvas,
never through pyplot: no display is needed, and importing this module or drawing leaves a notebook's
backend and its pyplot figures alone (returned figures still show in a notebook cell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

from semimix.files import atomic_write

CLASS_COLOURS = ("tab:red", "tab:blue")
PROBABILITY_CMAP = "RdBu"  # p(class 1) = 0 red, 1 blue: the class colours above
BOUNDARY_COLOUR = "tab:green"
PANEL_SIZE = 5.0  # inches per square panel


def figure(width: float, height: float) -> Figure:
    """An empty figure of its own (inches), laid out by constrained layout and drawn by Agg: pyplot
    never holds it, so nothing needs closing and its memory goes with the last reference."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def new_figure(panels: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure with ``panels`` square panels side by side."""
    fig = figure((PANEL_SIZE + 1.0) * panels, PANEL_SIZE + 1.0)
    axes = fig.subplots(1, panels, squeeze=False)
    return fig, list(axes[0])


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as the format its suffix names, parent folders created; atomically, so an
    interrupted write leaves the previous figure, not a truncated one."""
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight"))
    return path


def draw_points(
    ax: Axes,
    x_unlabeled: np.ndarray,
    y_unlabeled: np.ndarray,
    x_labeled: np.ndarray,
    class_names: Sequence[str] = ("class 0", "class 1"),
) -> None:
    """Unlabeled points coloured by their (hidden) true class, labeled points as black triangles."""
    for c, colour in enumerate(CLASS_COLOURS[: len(class_names)]):
        pts = x_unlabeled[y_unlabeled == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colour, edgecolors="white", linewidths=0.4, label=f"unlabeled, {class_names[c]}", zorder=3)
    ax.scatter(x_labeled[:, 0], x_labeled[:, 1], s=60, c="black", marker="^", edgecolors="white", linewidths=0.6, label="labeled", zorder=4)


def _legend(ax: Axes) -> None:
    """Below the panel, where it hides no data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)


def _frame(ax: Axes, extent: tuple[float, float, float, float], title: str) -> None:
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title, fontsize=10)


def draw_dataset(
    ax: Axes,
    x_unlabeled: np.ndarray,
    y_unlabeled: np.ndarray,
    x_labeled: np.ndarray,
    extent: tuple[float, float, float, float],
    class_names: Sequence[str] = ("class 0", "class 1"),
    title: str = "dataset",
) -> None:
    """Fig. 4a: the training points alone."""
    draw_points(ax, x_unlabeled, y_unlabeled, x_labeled, class_names)
    _frame(ax, extent, title)
    _legend(ax)


def draw_decision_boundary(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    prob: np.ndarray,
    boundary: Sequence[np.ndarray],
    x_unlabeled: np.ndarray,
    y_unlabeled: np.ndarray,
    x_labeled: np.ndarray,
    class_names: Sequence[str] = ("class 0", "class 1"),
    title: str = "",
) -> None:
    """Fig. 4b–d: filled contours of p(class 1) on the grid ``xs`` × ``ys`` (``prob[i, j]`` at
    ``(xs[j], ys[i])``), the decision boundary as green polylines, and the training points.

    The boundary is passed in (not re-contoured here) so the curve drawn is exactly the one
    whose distances to the points were measured.
    """
    filled = ax.contourf(xs, ys, prob, levels=np.linspace(0.0, 1.0, 21), cmap=PROBABILITY_CMAP, vmin=0.0, vmax=1.0, alpha=0.85, zorder=1)
    for k, line in enumerate(boundary):
        ax.plot(line[:, 0], line[:, 1], color=BOUNDARY_COLOUR, linewidth=2.0, label="decision boundary" if k == 0 else None, zorder=2)
    draw_points(ax, x_unlabeled, y_unlabeled, x_labeled, class_names)
    _frame(ax, (xs[0], xs[-1], ys[0], ys[-1]), title)
    colorbar = ax.figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.04, ticks=np.linspace(0.0, 1.0, 6))
    colorbar.set_label(f"p({class_names[1]})")
    _legend(ax)


# ----------------------------------------------------------------------------- Manifold Mixup's Figs. 1 and 2
OFF_DATA_COLOUR = "black"
METHOD_COLOURS = ("tab:gray", "tab:orange", "tab:purple", "tab:green", "tab:brown", "tab:pink")


def new_figure_grid(rows: int, cols: int, panel_size: float = PANEL_SIZE) -> tuple[Figure, np.ndarray]:
    """A figure of ``rows`` × ``cols`` square panels; ``axes[r, c]`` is row r, column c."""
    fig = figure((panel_size + 1.0) * cols, (panel_size + 1.0) * rows)
    return fig, fig.subplots(rows, cols, squeeze=False)


def draw_class_map(
    ax: Axes,
    xs: np.ndarray,
    ys: np.ndarray,
    prob: np.ndarray,
    boundary: Sequence[np.ndarray],
    points: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str] = ("class 0", "class 1"),
    title: str = "",
    axis_labels: tuple[str, str] = ("$x_1$", "$x_2$"),
    off_points: np.ndarray | None = None,
    off_label: str = "off-data points",
) -> None:
    """A plane coloured by p(class 1) on the grid ``xs`` × ``ys`` (``prob[i, j]`` at ``(xs[j], ys[i])``),
    its p = 0.5 boundary as green polylines, ``points`` coloured by their class and, if given,
    ``off_points`` as small black dots on top (Manifold Mixup Fig. 1: the input plane in the top
    row, the 2-D hidden plane in the bottom row). Points outside the grid are clipped."""
    filled = ax.contourf(xs, ys, prob, levels=np.linspace(0.0, 1.0, 21), cmap=PROBABILITY_CMAP, vmin=0.0, vmax=1.0, alpha=0.85, zorder=1)
    for k, line in enumerate(boundary):
        ax.plot(line[:, 0], line[:, 1], color=BOUNDARY_COLOUR, linewidth=1.5, label="decision boundary" if k == 0 else None, zorder=2)
    for c, colour in enumerate(CLASS_COLOURS[: len(class_names)]):
        pts = points[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=9, c=colour, edgecolors="white", linewidths=0.3, label=class_names[c], zorder=3)
    if off_points is not None and len(off_points):
        ax.scatter(off_points[:, 0], off_points[:, 1], s=3, c=OFF_DATA_COLOUR, linewidths=0, alpha=0.6, label=off_label, zorder=4)
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_aspect("equal")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=10)
    colorbar = ax.figure.colorbar(filled, ax=ax, fraction=0.046, pad=0.04, ticks=np.linspace(0.0, 1.0, 6))
    colorbar.set_label(f"p({class_names[1]})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=8, frameon=False, markerscale=2)


def draw_interpolation_curves(
    ax: Axes,
    lambdas: np.ndarray,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str = "",
    ylabel: str = "test NLL (interpolated targets)",
) -> None:
    """Manifold Mixup Fig. 2: one line per model of the mean loss along interpolation paths against
    the interpolation coefficient λ, with a ±1 standard-error band; ``curves[name] = (mean, sem)``."""
    for k, (name, (mean, sem)) in enumerate(curves.items()):
        colour = METHOD_COLOURS[k % len(METHOD_COLOURS)]
        mean, sem = np.asarray(mean, dtype=float), np.asarray(sem, dtype=float)
        ax.plot(lambdas, mean, color=colour, linewidth=2.0, marker="o", markersize=3, label=name)
        ax.fill_between(lambdas, mean - sem, mean + sem, color=colour, alpha=0.2, linewidth=0)
    ax.set_xlim(float(lambdas[0]), float(lambdas[-1]))
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("interpolation coefficient λ")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)


# ----------------------------------------------------------------------------- semimix eval / semimix plot
RUN_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")
RUN_LINESTYLES = ("-", "--", ":", "-.")
QUANTITY_LABELS = {"loss": "total loss", "lr": "learning rate", "val_accuracy": "validation accuracy", "val_nll": "validation NLL"}


def draw_reliability_diagram(
    fig_axes: tuple[Axes, Axes],
    edges: ArrayLike,
    counts: ArrayLike,
    confidence: ArrayLike,
    accuracy: ArrayLike,
    ece: float | None,
    title: str = "",
) -> None:
    """A reliability diagram (Guo et al., 2017, Fig. 1): on the upper axes, per confidence bin the
    accuracy as a bar and the gap to the bin's mean confidence hatched, with the diagonal of perfect
    calibration; on the lower axes, the share of samples in each bin. Empty bins have no bar."""
    top, bottom = fig_axes
    edges, counts = np.asarray(edges, dtype=float), np.asarray(counts, dtype=float)
    confidence, accuracy = np.asarray(confidence, dtype=float), np.asarray(accuracy, dtype=float)
    left, width = edges[:-1], np.diff(edges)
    full = counts > 0
    top.bar(left[full], accuracy[full], width[full], align="edge", color="tab:blue", edgecolor="black", linewidth=0.6, label="accuracy", zorder=2)
    gap_low, gap_high = np.minimum(accuracy, confidence), np.maximum(accuracy, confidence)
    top.bar(
        left[full],
        (gap_high - gap_low)[full],
        width[full],
        bottom=gap_low[full],
        align="edge",
        color="tab:red",
        alpha=0.35,
        edgecolor="tab:red",
        hatch="//",
        linewidth=0.6,
        label="gap to mean confidence",
        zorder=3,
    )
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1.0, label="perfect calibration", zorder=4)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(title, fontsize=10)
    top.grid(alpha=0.3, zorder=0)
    top.legend(loc="upper left", fontsize=8)
    if ece is not None:
        top.text(
            0.97,
            0.04,
            f"ECE = {ece:.4f}",
            transform=top.transAxes,
            ha="right",
            va="bottom",
            fontsize=10,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
    share = counts / max(counts.sum(), 1.0)
    bottom.bar(left, share, width, align="edge", color="tab:gray", edgecolor="black", linewidth=0.6)
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence (largest predicted probability)")
    bottom.set_ylabel("share of samples")
    bottom.grid(alpha=0.3)


def new_reliability_figure() -> tuple[Figure, tuple[Axes, Axes]]:
    """A figure for ``draw_reliability_diagram``: a square diagram above a short histogram."""
    fig = figure(PANEL_SIZE, PANEL_SIZE * 1.4)
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    return fig, (top, bottom)


def draw_training_curves(
    quantities: Sequence[str],
    runs: Sequence[tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]],
    columns: int = 3,
    title: str = "",
) -> Figure:
    """One panel per quantity against the training step, one line per run in the same colour and
    style in every panel, and one legend below naming the runs. ``runs[k] = (label, series)`` with
    ``series[quantity] = (steps, values)``; a run without a quantity has no line in its panel."""
    columns = max(1, min(columns, len(quantities)))
    rows = -(-len(quantities) // columns)
    fig = figure(4.2 * columns, 3.0 * rows + 0.4 + 0.25 * len(runs))
    axes = fig.subplots(rows, columns, squeeze=False)
    handles: dict[str, Line2D] = {}
    for q, ax in zip(quantities, axes.flat):
        for k, (label, series) in enumerate(runs):
            if q not in series:
                continue
            steps, values = series[q]
            style = {"color": RUN_COLOURS[k % len(RUN_COLOURS)], "linestyle": RUN_LINESTYLES[(k // len(RUN_COLOURS)) % len(RUN_LINESTYLES)]}
            (line,) = ax.plot(steps, values, linewidth=1.4, marker="o" if len(steps) <= 30 else None, markersize=3, label=label, **style)
            handles.setdefault(label, line)
        ax.set_title(QUANTITY_LABELS.get(q, q), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(quantities) :]:
        ax.set_visible(False)
    ordered = [label for label, _ in runs if label in handles]
    fig.legend([handles[label] for label in ordered], ordered, loc="outside lower center", ncol=min(3, max(1, len(ordered))), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# ----------------------------------------------------------------------------- robustness (AdvMixup Tables IV–V, Fig. 3)
def draw_attack_curves(
    ax: Axes,
    epsilons: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    title: str = "",
    xlabel: str = "perturbation size ε",
    ylabel: str = "test error (%)",
) -> None:
    """Error (fractions in [0, 1], drawn as %) against the attack's ε, one line per model."""
    for k, (name, errors) in enumerate(curves.items()):
        ax.plot(
            list(epsilons),
            100 * np.asarray(errors, dtype=float),
            color=METHOD_COLOURS[k % len(METHOD_COLOURS)],
            linewidth=2.0,
            marker="o",
            markersize=4,
            label=name,
        )
    ax.set_ylim(0.0, 100.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


PATH_STYLES = {"real_real": ("tab:blue", "--", "real–real (ICT)"), "real_adversarial": ("tab:orange", "-", "real–adversarial (AdvMixup)")}


def draw_path_errors(
    ax: Axes,
    lambdas: Sequence[float],
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
) -> None:
    """AdvMixup Fig. 3: error (%) on virtual samples against λ, ``curves[key] = (error, sem)`` with keys
    ``real_real`` (blue dashed) and ``real_adversarial`` (orange solid), ±1 standard error shaded."""
    lam = np.asarray(lambdas, dtype=float)
    for key, (errors, sems) in curves.items():
        colour, style, label = PATH_STYLES.get(key, ("tab:gray", "-", key))
        error, sem = 100 * np.asarray(errors, dtype=float), 100 * np.asarray(sems, dtype=float)
        ax.plot(lam, error, color=colour, linestyle=style, linewidth=2.0, label=label)
        ax.fill_between(lam, error - sem, error + sem, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlim(float(lam[0]), float(lam[-1]))
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("λ (weight of the real sample x_i)")
    ax.set_ylabel("error rate (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)


# ----------------------------------------------------------------------------- benchmark grids (semimix bench grid)
PAPER_COLOUR = "tab:red"


def draw_grid_errors(ax: Axes, errors: Mapping[str, Sequence[float]], paper: Mapping[str, float], title: str, xlabel: str) -> None:
    """One column of a grid: per row (first on top), each seed's error as a dot (label "one seed"),
    their mean as a bar, and the paper's number, where given, as a red cross (label "paper"), so gaps
    read against the seed spread."""
    names = list(errors)
    ys = np.arange(len(names))[::-1]
    for y, name in zip(ys, names):
        values = np.asarray(errors[name], dtype=float)
        if values.size:
            ax.barh(y, values.mean(), height=0.6, color="tab:blue", alpha=0.35, zorder=1)
            ax.scatter(values, np.full(values.size, y), s=18, color="tab:blue", zorder=2, label="one seed")
        if name in paper:
            ax.scatter([paper[name]], [y], s=60, marker="x", color=PAPER_COLOUR, zorder=3, label="paper")
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlim(left=0.0)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
