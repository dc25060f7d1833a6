"""Two spirals: sizes, seeding, and the geometry of the two interleaved arms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from semimix.data import DataConfig
from semimix.data.toys import SPIRALS_NOISE, SPIRALS_START, SPIRALS_TURNS, load_spirals, sample_spirals
from semimix.errors import SemimixError


def test_sizes_and_balance():
    bundle = load_spirals(DataConfig(dataset="two-spirals"), 0)
    assert bundle.input_shape == (2,) and bundle.num_classes == 2
    assert (len(bundle.x_labeled), len(bundle.x_unlabeled), len(bundle.x_val), len(bundle.x_test)) == (10, 990, 200, 1000)
    assert np.array_equal(np.bincount(bundle.y_labeled.numpy()), [5, 5])
    assert np.array_equal(np.bincount(bundle.y_test.numpy()), [500, 500])
    custom = load_spirals(DataConfig(dataset="two-spirals", labels=20, val_size=50, test_size=100), 0)
    assert (len(custom.x_labeled), len(custom.x_val), len(custom.x_test)) == (20, 50, 100)
    assert np.array_equal(np.bincount(load_spirals(DataConfig(dataset="two-spirals", labels_per_class=7), 0).y_labeled.numpy()), [7, 7])
    with pytest.raises(SemimixError, match="count"):
        load_spirals(DataConfig(dataset="two-spirals", val_size=0.1), 0)


def test_seeded():
    a, b, c = (load_spirals(DataConfig(dataset="two-spirals"), s) for s in (1, 1, 2))
    assert a.x_labeled.equal(b.x_labeled) and a.x_test.equal(b.x_test)
    assert not a.x_test.equal(c.x_test)


def test_geometry_points_lie_on_their_arm():
    """Without noise, class c's point at angle theta sits at radius theta / (2π·turns) in direction
    theta + cπ; with noise every point stays close to its own arm and far from the other."""
    rng = np.random.default_rng(0)
    x, y = sample_spirals(np.array([2000, 2000]), rng)
    assert np.array_equal(np.bincount(y), [2000, 2000])
    radius = np.hypot(x[:, 0], x[:, 1])
    assert radius.max() < 1 + 5 * SPIRALS_NOISE and radius.min() > SPIRALS_START / SPIRALS_TURNS - 5 * SPIRALS_NOISE

    def distance_to_arm(points: np.ndarray, cls: int) -> np.ndarray:
        theta = np.linspace(2 * np.pi * SPIRALS_START, 2 * np.pi * SPIRALS_TURNS, 4000)
        r = theta / (2 * np.pi * SPIRALS_TURNS)
        arm = np.stack([r * np.cos(theta + np.pi * cls), r * np.sin(theta + np.pi * cls)], axis=1)
        return cKDTree(arm).query(points)[0]

    for cls in (0, 1):
        own, other = distance_to_arm(x[y == cls], cls), distance_to_arm(x[y == cls], 1 - cls)
        assert np.median(own) < 1.5 * SPIRALS_NOISE
        assert (own < other).mean() > 0.99  # noise rarely crosses the gap of 1/3 between arms
    # class 1 is class 0 turned by half a turn: the two clouds have the same radius distribution
    r0, r1 = radius[y == 0], radius[y == 1]
    assert abs(np.median(r0) - np.median(r1)) < 0.05
