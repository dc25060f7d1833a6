"""Generated 2-D toy problems (two circles, two moons, two spirals) where the decision boundary can be plotted.

Toys are never normalised, whatever ``cfg.normalize`` says: they stay in data units so plots
show the real geometry (the circles' radii, the moons' shapes). Every split is its own seeded
draw from the generating distribution. ``val_size``/``test_size`` may be set as a total count
of samples (spread evenly over the classes); fractions make no sense for generated data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from sklearn.datasets import make_moons

from semimix.data.assemble import make_bundle, split_and_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.splits import check_enough_labels, class_quota, resolve_labels
from semimix.errors import SemimixError

Sampler = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
# Labeled counts per class, rng -> labeled x, y, unlabeled x, y
TrainingSampler = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]

OUTER_RADIUS = 1.0
# The AdvMixup paper gives no radii. At 0.5 the rings are 0.5 apart, over 8 outer-ring point spacings
# (0.06): every training point's 7 nearest neighbours lie on its own ring (seeds 0-4: up to 0.75), so
# the cluster assumption holds and label spreading finds every unlabeled point (tests/test_two_circles.py).
INNER_RADIUS = 0.5
# The earlier geometry (make_circles' default factor; benchmarks/RESULTS.md's two-circles table): 0.2
# apart, about 3 spacings, where the 7-NN graph links the rings and k-NN label spreading scored 0.69-0.89.
LEGACY_INNER_RADIUS = 0.8
CIRCLES_NOISE = 0.01
MOONS_NOISE = 0.1
DEFAULT_LABELS = 10
VAL_PER_CLASS = 100
TEST_PER_CLASS = 500
CIRCLES_UNLABELED_PER_CLASS = 100
CIRCLES_SPREAD_NAME = "two-circles-spread"  # the toys' names and descriptions are in semimix.data.registry
MOONS_TRAIN_PER_CLASS = 500
# Two spirals (Manifold Mixup's Figure 1 toy; the paper gives no generator, so this is the classic
# two-spirals problem): arms of 1.5 turns, from a quarter turn out to radius 1.
SPIRALS_TURNS = 1.5
SPIRALS_START = 0.25  # turns skipped at the centre, where the two arms would touch
SPIRALS_NOISE = 0.05  # Gaussian std; neighbouring arms are 1 / (2 * SPIRALS_TURNS) = 1/3 apart
SPIRALS_TRAIN_PER_CLASS = 500
SPIRALS_NAME = "two-spirals"


def sample_circles(
    counts: np.ndarray, rng: np.random.Generator, evenly_spaced: bool = False, inner_radius: float = INNER_RADIUS
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[c]`` points of class c: class 0 on the inner circle, class 1 on the outer one.

    Angles are uniform draws, or with ``evenly_spaced`` ``counts[c]`` equal steps round the circle
    from a random start, as sklearn's ``make_circles`` places them. The case study's training rings
    are evenly spaced (105 points: 0.06 apart on the outer ring), since uniform angles leave gaps of
    about 2π·ln(105)/105 ≈ 0.28 rad that break the chain of neighbours round a ring (at radius 0.8,
    label spreading then scored 0.6-0.77). Validation and test points keep uniform angles.
    """
    radii = np.repeat([inner_radius, OUTER_RADIUS], counts)
    if evenly_spaced:
        angles = np.concatenate([rng.uniform(0.0, 2.0 * np.pi) + 2.0 * np.pi * np.arange(n) / n for n in counts])
    else:
        angles = rng.uniform(0.0, 2.0 * np.pi, size=len(radii))
    x = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    x += rng.normal(0.0, CIRCLES_NOISE, size=x.shape)
    return x, np.repeat([0, 1], counts)


def _sample_circles_training(
    labeled: np.ndarray, rng: np.random.Generator, spread_labels: bool = False, inner_radius: float = INNER_RADIUS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training set of the case study: per class one evenly spaced ring of ``labeled[c]`` +
    ``CIRCLES_UNLABELED_PER_CLASS`` points, ``labeled[c]`` of them labeled: at random places, or
    with ``spread_labels`` every ``n / labeled[c]``-th point of the ring from a random start, so the
    labels sit evenly round it and no straight line fits both classes' labels."""
    pool = np.asarray(labeled) + CIRCLES_UNLABELED_PER_CLASS
    x, y = sample_circles(pool, rng, evenly_spaced=True, inner_radius=inner_radius)
    starts = np.concatenate([[0], np.cumsum(pool)[:-1]])
    is_labeled = np.zeros(len(y), dtype=bool)
    for start, n, k in zip(starts, pool, labeled):
        if spread_labels:
            picked = (int(rng.integers(n)) + np.round(np.arange(k) * n / k).astype(np.int64)) % n
        else:
            picked = rng.choice(n, size=int(k), replace=False)
        is_labeled[start + picked] = True
    return x[is_labeled], y[is_labeled], x[~is_labeled], y[~is_labeled]


def sample_moons(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``counts[c]`` points of class c from sklearn's make_moons (class 0 = upper moon)."""
    x, y = make_moons(n_samples=tuple(int(c) for c in counts), noise=MOONS_NOISE, random_state=int(rng.integers(2**31)))
    return x, y.astype(np.int64)


def sample_spirals(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``counts[c]`` points of class c on two interleaved Archimedean spirals (radius ∝ angle):
    class 1 is class 0 turned by half a turn. Angles are drawn so points are spread evenly along
    each arm (density ∝ arc length ∝ angle), then Gaussian noise is added."""
    start, stop = 2 * np.pi * SPIRALS_START, 2 * np.pi * SPIRALS_TURNS
    y = np.repeat([0, 1], counts)
    theta = np.sqrt(rng.uniform(start**2, stop**2, size=len(y)))
    radius = theta / stop
    angle = theta + np.pi * y
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x + rng.normal(0.0, SPIRALS_NOISE, size=x.shape), y


def _eval_counts(size: float | int | None, default_per_class: int, rng: np.random.Generator, name: str, what: str) -> np.ndarray:
    if size is None:
        return np.full(2, default_per_class)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise SemimixError(f"{name} generates its {what} set, so {what}_size must be a count of samples (e.g. {2 * default_per_class}), not {size!r}")
    return class_quota(2, int(size), rng)


def _load_toy(
    cfg: DataConfig,
    seed: int,
    name: str,
    sample: Sampler,
    class_names: list[str],
    training: TrainingSampler | None = None,
    pool_per_class: int = MOONS_TRAIN_PER_CLASS,
) -> DataBundle:
    """Shared body: training pool, labeled subset, then separate validation and test draws.

    Without ``training`` the labeled points are picked from a training pool of ``pool_per_class``
    points per class (moons, spirals: ``split_and_bundle``, the recipe of every loader);
    ``training`` draws the labeled points on top of the unlabeled pool instead (circles).
    """
    rng = np.random.default_rng(seed)
    labels = resolve_labels(cfg.labels, cfg.labels_per_class, 2, DEFAULT_LABELS)

    def val() -> tuple[np.ndarray, np.ndarray]:
        return sample(_eval_counts(cfg.val_size, VAL_PER_CLASS, rng, name, "val"), rng)

    def test() -> tuple[np.ndarray, np.ndarray]:
        return sample(_eval_counts(cfg.test_size, TEST_PER_CLASS, rng, name, "test"), rng)

    if training is None:
        x_train, y_train = sample(np.full(2, pool_per_class), rng)
        return split_and_bundle(
            name,
            x_train,
            y_train,
            rng,
            labels=labels,
            num_classes=2,
            class_names=class_names,
            val=val,
            test=test,
            unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        )
    check_enough_labels(labels, 2)
    if isinstance(labels, str):  # "all": there is no pool to label, the labeled points are drawn apart
        raise SemimixError(f"{name} draws its labeled points apart from its unlabeled ones, so labels must be a count, not {labels!r}")
    x_lab, y_lab, x_unl, y_unl = training(class_quota(2, labels, rng), rng)
    labeled = np.arange(len(x_lab))  # drawn apart, not from a pool: the bundle without split_and_bundle's label draw
    return make_bundle(
        name,
        np.concatenate([x_lab, x_unl]),
        np.concatenate([y_lab, y_unl]),
        labeled,
        val(),
        test(),
        num_classes=2,
        class_names=class_names,
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        normalize=False,
    )


def _load_circles(cfg: DataConfig, seed: int, name: str, spread_labels: bool, inner_radius: float) -> DataBundle:
    return _load_toy(
        cfg,
        seed,
        name,
        partial(sample_circles, inner_radius=inner_radius),
        ["inner", "outer"],
        training=partial(_sample_circles_training, spread_labels=spread_labels, inner_radius=inner_radius),
    )


def load_circles(cfg: DataConfig, seed: int, inner_radius: float = INNER_RADIUS) -> DataBundle:
    """AdvMixup's case study: two noisy concentric circles (radii ``inner_radius`` and 1), per class
    an evenly spaced ring of 5 labeled (``labels``, default 10 in all) and 100 unlabeled points;
    validation 100 and test 500 per class at uniform random angles."""
    return _load_circles(cfg, seed, "two-circles", False, inner_radius)


def load_circles_spread_labels(cfg: DataConfig, seed: int, inner_radius: float = INNER_RADIUS) -> DataBundle:
    """Two circles as ``load_circles`` but with each ring's labels evenly spaced round it: the
    case study's most favourable label draw (random places often let a straight line fit all 10)."""
    return _load_circles(cfg, seed, CIRCLES_SPREAD_NAME, True, inner_radius)


def load_moons(cfg: DataConfig, seed: int) -> DataBundle:
    """Two interleaving moons (noise 0.1): 500 training points per class of which ``labels``
    (default 10) are labeled; validation 100 and test 500 per class."""
    return _load_toy(cfg, seed, "two-moons", sample_moons, ["upper", "lower"])


def load_spirals(cfg: DataConfig, seed: int) -> DataBundle:
    """Two interleaved spirals of 1.5 turns (noise 0.05), the Manifold Mixup paper's 2-D toy:
    500 training points per class of which ``labels`` (default 10) are labeled; validation 100
    and test 500 per class."""
    return _load_toy(cfg, seed, SPIRALS_NAME, sample_spirals, ["arm 0", "arm 1"], pool_per_class=SPIRALS_TRAIN_PER_CLASS)
