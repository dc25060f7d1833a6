"""Figures of 2-D problems: the dataset and a model's decision boundary (AdvMixup's Fig. 4).

The functions draw from plain arrays onto a given ``Axes``, so one panel can stand alone
(``save_figure``) or sit beside others in a multi-panel figure. Class 0 is red and class 1 is
blue everywhere, the probability map included, so a point's colour and its background agree
where the model is right. Matplotlib runs with the Agg backend: no display is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CLASS_COLOURS = ("tab:red", "tab:blue")
PROBABILITY_CMAP = "RdBu"  # p(class 1) = 0 red, 1 blue: the class colours above
BOUNDARY_COLOUR = "tab:green"
PANEL_SIZE = 5.0  # inches per square panel


def new_figure(panels: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure with ``panels`` square panels side by side."""
    fig, axes = plt.subplots(1, panels, figsize=((PANEL_SIZE + 1.0) * panels, PANEL_SIZE + 1.0), squeeze=False, layout="constrained")
    return fig, list(axes[0])


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` (parent folders created) and free its memory: studies draw many figures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
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
