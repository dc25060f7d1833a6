"""MNIST-1D: the generated benchmark's shape, counts, balance, determinism and difficulty."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from semimix.data import DataConfig
from semimix.data.mnist1d import BENCHMARK, generate, load, templates
from semimix.errors import SemimixError


@pytest.fixture(scope="module")
def benchmark() -> tuple[np.ndarray, np.ndarray]:
    return generate()


def test_generated_set_matches_the_benchmark_layout(benchmark):
    x, y = benchmark
    assert x.shape == (5000, 40) and y.shape == (5000,) and x.dtype == np.float64
    assert np.array_equal(np.bincount(y), np.full(10, 500))
    assert abs(x.mean()) < 1e-12 and abs(x.std() - 1) < 1e-12  # the benchmark's global standardisation
    assert sorted(np.bincount(y[:4000], minlength=10)) != [400] * 10  # shuffled before the 4000/1000 split
    assert np.isfinite(x).all()


def test_templates_start_and_end_at_zero():
    t = templates()
    assert t.shape == (10, BENCHMARK.template_len)
    assert np.allclose(t[:, 0], 0) and np.allclose(t[:, -1], 0)
    assert np.allclose(t.std(axis=1), 1 / 6)


def test_generation_is_fixed_whatever_the_run_seed(benchmark):
    x, y = generate()
    assert np.array_equal(x, benchmark[0]) and np.array_equal(y, benchmark[1])
    a, b = load(DataConfig(dataset="mnist1d"), 0), load(DataConfig(dataset="mnist1d"), 1)
    assert a.x_test.equal(b.x_test) and a.y_test.equal(b.y_test)
    assert not np.array_equal(a.split["labeled"], b.split["labeled"])


def test_bundle_counts_shapes_and_balance(benchmark):
    bundle = load(DataConfig(dataset="mnist1d"), seed=3)
    assert bundle.input_shape == (1, 40) and bundle.num_classes == 10
    assert (len(bundle.x_labeled), len(bundle.x_unlabeled), len(bundle.x_val), len(bundle.x_test)) == (100, 3400, 500, 1000)
    assert np.array_equal(np.bincount(bundle.y_labeled.numpy()), np.full(10, 10))
    x, y = benchmark
    stratified = 500 * np.bincount(y[:4000]) / 4000  # the benchmark's train set is not exactly balanced
    assert np.all(np.abs(np.bincount(bundle.y_val.numpy(), minlength=10) - stratified) < 1)
    split = bundle.split
    assert np.array_equal(split["test"], np.arange(4000, 5000))
    assert np.allclose(bundle.x_test[:, 0].numpy(), x[4000:]) and np.array_equal(bundle.y_test.numpy(), y[4000:])
    assert np.allclose(bundle.x_labeled[:, 0].numpy(), x[split["labeled"]])
    assert np.array_equal(bundle.y_labeled.numpy(), y[split["labeled"]])
    assert np.allclose(bundle.x_unlabeled[:, 0].numpy(), x[split["unlabeled"]])
    pool = np.concatenate([split["labeled"], split["unlabeled"], split["val"]])
    assert np.array_equal(np.sort(pool), np.arange(4000)) and bundle.y_unlabeled_true is not None


def test_same_seed_same_split_and_options():
    a, b = load(DataConfig(dataset="mnist1d"), 7), load(DataConfig(dataset="mnist1d"), 7)
    assert all(np.array_equal(a.split[k], b.split[k]) for k in a.split)
    assert a.x_unlabeled.equal(b.x_unlabeled)
    c = load(DataConfig(dataset="mnist1d", labels_per_class=4, val_size=0.25, unlabeled_includes_labeled=True), 7)
    assert (len(c.x_labeled), len(c.x_val), len(c.x_unlabeled)) == (40, 1000, 3000)


def test_test_size_is_refused():
    with pytest.raises(SemimixError, match="fixed test set"):
        load(DataConfig(dataset="mnist1d", test_size=0.2), 0)


def test_difficulty_matches_the_benchmark(benchmark):
    """README: logistic regression ~32%, MLP ~68% (trained longer than here); a linear model must
    stay in the band and a small MLP must beat it clearly, or the signals are wrong."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = benchmark
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = LogisticRegression(max_iter=1000).fit(x[:4000], y[:4000]).score(x[4000:], y[4000:])
        mlp = MLPClassifier((100,), max_iter=100, random_state=0).fit(x[:4000], y[:4000]).score(x[4000:], y[4000:])
    assert 0.20 <= linear <= 0.45
    assert mlp >= 0.45 and mlp >= linear + 0.1
