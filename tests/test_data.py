"""Datasets and splits: sizes, balance, seeding, geometry, user files and their error messages."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from semimix.data import DATASET_NAMES, DataBundle, DataConfig, list_datasets, load_dataset
from semimix.data.splits import balanced_labeled_subset, stratified_split
from semimix.data.toys import INNER_RADIUS, LEGACY_INNER_RADIUS, OUTER_RADIUS, load_circles
from semimix.errors import SemimixError

Y = np.repeat(np.arange(4), [40, 30, 20, 10])


def row_list(x: torch.Tensor) -> list[bytes]:
    return [row.numpy().tobytes() for row in x]


def row_set(x: torch.Tensor) -> set[bytes]:
    return set(row_list(x))


def load(dataset: str, seed: int = 0, **kwargs) -> DataBundle:
    return load_dataset(DataConfig(dataset=dataset, **kwargs), seed)


def write_npz(tmp_path, name: str = "data.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def write_csv(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def small_xy(n_per_class: int = 10, classes: int = 3, unlabeled: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.concatenate([np.repeat(np.arange(classes), n_per_class), np.full(unlabeled, -1)])
    return rng.normal(size=(len(y), 4)), y


# --- splits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, expected", [(0.25, 25), (10, 10), (0, 0)])
def test_stratified_split_sizes_and_proportions(size, expected):
    keep, split = stratified_split(Y, size, seed=0)
    assert len(split) == expected and len(keep) == len(Y) - expected
    assert np.array_equal(np.sort(np.concatenate([keep, split])), np.arange(len(Y)))
    exact = expected * np.bincount(Y) / len(Y)
    assert np.all(np.abs(np.bincount(Y[split], minlength=4) - exact) < 1)


def test_stratified_split_seeding():
    assert np.array_equal(stratified_split(Y, 0.3, 1)[1], stratified_split(Y, 0.3, 1)[1])
    assert not np.array_equal(stratified_split(Y, 0.3, 1)[1], stratified_split(Y, 0.3, 2)[1])


@pytest.mark.parametrize("size, words", [(1.5, "fraction"), (100, "0 to 99"), (-1, "0 to 99"), ("a", "fraction")])
def test_stratified_split_bad_size(size, words):
    with pytest.raises(SemimixError, match=words):
        stratified_split(Y, size, 0, "val_size")


def test_balanced_subset_remainder_and_seeding():
    idx = balanced_labeled_subset(Y, 10, seed=3)
    counts = np.bincount(Y[idx], minlength=4)
    assert counts.sum() == 10 and sorted(counts.tolist()) == [2, 2, 3, 3]
    assert np.array_equal(idx, balanced_labeled_subset(Y, 10, seed=3))
    assert not np.array_equal(idx, balanced_labeled_subset(Y, 10, seed=4))


def test_balanced_subset_errors():
    with pytest.raises(SemimixError, match="fewer than the 4 classes"):
        balanced_labeled_subset(Y, 3, 0)
    with pytest.raises(SemimixError, match="integer count"):
        balanced_labeled_subset(Y, 10.0, 0)
    with pytest.raises(SemimixError, match="class 3 has only 10 samples.*at most 40"):
        balanced_labeled_subset(Y, 60, 0)


# --- digits -------------------------------------------------------------------------------------


def test_digits_defaults():
    b = load("digits")
    assert (len(b.x_labeled), len(b.x_val), len(b.x_test)) == (100, 180, 359)  # round(0.2 * 1797)
    assert len(b.x_labeled) + len(b.x_unlabeled) + len(b.x_val) + len(b.x_test) == 1797
    assert b.input_shape == (1, 8, 8) and b.num_classes == 10
    assert b.x_labeled.dtype == torch.float32 and b.y_labeled.dtype == torch.int64
    assert torch.bincount(b.y_labeled).tolist() == [10] * 10
    assert b.y_unlabeled_true is not None and len(b.y_unlabeled_true) == len(b.x_unlabeled)
    assert torch.bincount(b.y_test, minlength=10).min() >= 35  # stratified


def test_digits_splits_do_not_overlap():
    b = load("digits", normalize=False)
    # Equal multisets of rows and equal totals: every image lands in exactly one split
    # (digits has a few duplicate images, so plain sets would not do).
    images = torch.tensor(load_digits().images / 16.0, dtype=torch.float32)[:, None]
    splits = torch.cat([b.x_labeled, b.x_unlabeled, b.x_val, b.x_test])
    assert Counter(row_list(splits)) == Counter(row_list(images))
    assert float(b.x_labeled.min()) >= 0 and float(b.x_labeled.max()) <= 1


def test_digits_seeding_and_options():
    a, b, c = load("digits", 0), load("digits", 0), load("digits", 1)
    assert torch.equal(a.x_labeled, b.x_labeled) and torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_labeled, c.x_labeled)
    d = load("digits", labels=25, val_size=50, test_size=0.1, unlabeled_includes_labeled=True)
    assert (len(d.x_labeled), len(d.x_val), len(d.x_test)) == (25, 50, 180)
    assert len(d.x_unlabeled) == 1797 - 50 - 180
    assert sorted(torch.bincount(d.y_labeled).tolist()) == [2] * 5 + [3] * 5


def test_digits_normalised_on_training_pool_only():
    b = load("digits")
    pool = torch.cat([b.x_labeled, b.x_unlabeled])
    assert abs(float(pool.mean())) < 1e-4 and abs(float(pool.std()) - 1) < 1e-3
    raw = load("digits", normalize=False)
    assert float(raw.x_val.mean()) > 0.2


def test_digits_split_records_indices_into_sklearn_digits():
    b = load("digits", normalize=False, unlabeled_includes_labeled=True)
    images = load_digits().images / 16.0
    for key, x in (("labeled", b.x_labeled), ("unlabeled", b.x_unlabeled), ("val", b.x_val), ("test", b.x_test)):
        assert b.split[key].dtype == np.int64
        assert np.allclose(x.numpy()[:, 0], images[b.split[key]])
    held_out = np.concatenate([b.split["unlabeled"], b.split["val"], b.split["test"]])
    assert np.array_equal(np.sort(held_out), np.arange(1797))  # unlabeled already holds the labeled images
    assert np.array_equal(load("digits", 5).split["val"], load("digits", 5).split["val"])


def test_labels_per_class():
    assert torch.bincount(load("digits", labels_per_class=4).y_labeled).tolist() == [4] * 10
    assert torch.bincount(load("moons", labels_per_class=3).y_labeled).tolist() == [3, 3]
    with pytest.raises(SemimixError, match="set only one"):
        load("digits", labels=20, labels_per_class=2)


def test_toys_record_their_split():
    b = load("moons")
    assert sorted(b.split) == ["labeled", "unlabeled"] and len(b.split["labeled"]) == 10
    assert not set(b.split["labeled"]) & set(b.split["unlabeled"])


def test_digits_too_many_labels():
    with pytest.raises(SemimixError, match="lower labels"):
        load("digits", labels=1500)


# --- toys ---------------------------------------------------------------------------------------


def test_circles_geometry_and_counts():
    b = load("circles")
    assert b.name == "two-circles" and b.class_names == ["inner", "outer"]
    assert (len(b.x_labeled), len(b.x_unlabeled), len(b.x_val), len(b.x_test)) == (10, 200, 200, 1000)
    assert torch.bincount(b.y_labeled).tolist() == [5, 5]
    assert torch.bincount(b.y_unlabeled_true).tolist() == [100, 100]
    assert torch.bincount(b.y_test).tolist() == [500, 500]
    radius = b.x_test.norm(dim=1)
    inner, outer = radius[b.y_test == 0], radius[b.y_test == 1]
    assert abs(float(inner.mean()) - INNER_RADIUS) < 0.005
    assert abs(float(outer.mean()) - OUTER_RADIUS) < 0.005
    assert float(inner.max()) < float(outer.min())  # noise 0.01 never bridges a 0.5 gap
    assert not row_set(b.x_labeled) & row_set(b.x_unlabeled)


def test_circles_legacy_inner_radius_moves_only_the_inner_ring():
    """The radius draws nothing, so a seed gives the same angles, noise and labels at either radius."""
    new, old = (load_circles(DataConfig(dataset="two-circles"), 2, inner_radius=r) for r in (INNER_RADIUS, LEGACY_INNER_RADIUS))
    for x_name, y_name in (("x_labeled", "y_labeled"), ("x_unlabeled", "y_unlabeled_true"), ("x_test", "y_test")):
        y, x_new, x_old = getattr(new, y_name), getattr(new, x_name), getattr(old, x_name)
        assert torch.equal(y, getattr(old, y_name))
        assert torch.equal(x_new[y == 1], x_old[y == 1])
        assert abs(float(x_old[y == 0].norm(dim=1).mean()) - LEGACY_INNER_RADIUS) < 0.01


def test_circles_options_and_seeding():
    b = load("two-circles", labels=7, val_size=20, unlabeled_includes_labeled=True, normalize=True)
    assert len(b.x_labeled) == 7 and len(b.x_unlabeled) == 207 and len(b.x_val) == 20
    assert row_set(b.x_labeled) <= row_set(b.x_unlabeled)
    assert abs(float(b.x_test.norm(dim=1).max()) - 1) < 0.05  # never normalised
    assert torch.equal(load("circles", 3).x_unlabeled, load("circles", 3).x_unlabeled)
    assert not torch.equal(load("circles", 3).x_unlabeled, load("circles", 4).x_unlabeled)
    with pytest.raises(SemimixError, match="count of samples"):
        load("circles", test_size=0.2)
    with pytest.raises(SemimixError, match="at least 2"):
        load("circles", labels=1)


def test_moons():
    b = load("moons")
    assert (len(b.x_labeled), len(b.x_unlabeled), len(b.x_val), len(b.x_test)) == (10, 990, 200, 1000)
    assert torch.bincount(b.y_labeled).tolist() == [5, 5]
    assert not torch.equal(load("moons", 0).x_labeled, load("moons", 1).x_labeled)


# --- registry -----------------------------------------------------------------------------------


def test_unknown_dataset_lists_names():
    with pytest.raises(SemimixError) as err:
        load("imagenet")
    message = str(err.value)
    assert all(name in message for name in DATASET_NAMES) and ".npz" in message and ".csv" in message
    with pytest.raises(SemimixError, match="unsupported file type"):
        load("data.txt")


def test_list_datasets(tmp_path):
    entries = list_datasets(None)
    assert [e["name"] for e in entries] == list(DATASET_NAMES)
    assert entries[0]["where"] == "bundled with scikit-learn" and entries[1]["where"] == "generated"
    write_npz(tmp_path, X=np.zeros((2, 1)), y=np.array([0, 1]))
    extra = list_datasets(str(tmp_path))[-1]
    assert extra["name"] == "data.npz" and extra["found"] and extra["where"].endswith("data.npz")
    with pytest.raises(SemimixError, match="not a directory"):
        list_datasets(str(tmp_path / "nope"))


def test_missing_file_says_so(tmp_path):
    with pytest.raises(SemimixError, match="does not exist.*looked at"):
        load(str(tmp_path / "missing.npz"))


# --- user .npz ----------------------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    x, y = small_xy()
    path = write_npz(tmp_path, X=x, y=y)
    b = load(path, normalize=False)
    assert b.name == "data.npz" and b.num_classes == 3
    assert torch.allclose(b.x_labeled, torch.tensor(x[y >= 0], dtype=torch.float32))
    assert torch.equal(b.y_labeled, torch.tensor(y[y >= 0]))
    assert len(b.x_unlabeled) == 5 and b.y_unlabeled_true is None
    assert b.x_val.shape == (0, 4) and b.y_test.shape == (0,)


def test_npz_found_in_data_dir_and_own_eval_sets(tmp_path):
    x, y = small_xy()
    write_npz(tmp_path, X=x, y=y, X_val=x[:3], y_val=np.array([0, 1, 2]), X_test=x[:2], y_test=np.array([1, 1]))
    b = load("data.npz", data_dir=str(tmp_path))
    assert (len(b.x_val), len(b.x_test)) == (3, 2)
    with pytest.raises(SemimixError, match="own val set.*unset val_size"):
        load("data.npz", data_dir=str(tmp_path), val_size=0.2)


def test_npz_carving_labels_and_normalisation(tmp_path):
    x, y = small_xy(n_per_class=20, unlabeled=0)
    path = write_npz(tmp_path, X=x * 5 + 3, y=y)
    b = load(path, val_size=0.25, test_size=9, labels=6)
    assert (len(b.x_val), len(b.x_test), len(b.x_labeled)) == (15, 9, 6)
    assert torch.bincount(b.y_test).tolist() == [3, 3, 3] and torch.bincount(b.y_labeled).tolist() == [2, 2, 2]
    assert len(b.x_unlabeled) == 60 - 15 - 9 - 6 and b.y_unlabeled_true is not None  # left-out labels join unlabeled
    pool = torch.cat([b.x_labeled, b.x_unlabeled])
    assert torch.allclose(pool.mean(0), torch.zeros(4), atol=1e-5)


def test_pixel_bounds_say_where_black_and_white_lie(tmp_path):
    """Digits (pixels 0..16 stored as 0..1, then standardised) and a uint8 .npz know their images' range,
    mapped through the loader's standardisation; float images and feature vectors do not."""
    digits = load("digits")
    pool = torch.cat([digits.x_labeled, digits.x_unlabeled])  # holds black (0) and white (16) pixels
    (low,), (high,) = digits.pixel_bounds()
    assert (low, high) == pytest.approx((float(pool.min()), float(pool.max())), abs=1e-5)
    assert load("digits", normalize=False).pixel_bounds() == ([0.0], [1.0])
    images = np.random.default_rng(0).integers(0, 256, (40, 3, 4, 4))
    y = np.arange(40) % 2
    uint8 = load(write_npz(tmp_path, X=images.astype(np.uint8), y=y))
    (mean, std), (low, high) = uint8.loader_standardization, uint8.pixel_bounds()
    assert low == pytest.approx(list(-mean.ravel() / std.ravel())) and high == pytest.approx(list((255 - mean.ravel()) / std.ravel()))
    assert load(write_npz(tmp_path, X=images / 255.0, y=y)).pixel_bounds() is None
    assert load(write_npz(tmp_path, X=images.reshape(40, -1).astype(np.uint8), y=y)).pixel_bounds() is None  # not images


def test_npz_split_holds_file_rows(tmp_path):
    x, y = small_xy(n_per_class=20, unlabeled=6)
    path = write_npz(tmp_path, X=x, y=y)
    b = load(path, val_size=6, test_size=6, labels_per_class=2, normalize=False)
    assert torch.bincount(b.y_labeled).tolist() == [2, 2, 2]
    for key, rows in (("labeled", b.x_labeled), ("unlabeled", b.x_unlabeled), ("val", b.x_val), ("test", b.x_test)):
        assert torch.allclose(rows, torch.tensor(x[b.split[key]], dtype=torch.float32))
    assert np.array_equal(np.sort(np.concatenate(list(b.split.values()))), np.arange(len(y)))
    assert sorted(load(path).split) == ["labeled", "unlabeled"]  # no carved sets: nothing else to record


def test_npz_images_normalised_per_channel(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2, 3, 3)) + np.array([10.0, -4.0])[None, :, None, None]
    x[:, 1, 0, 0] = 7.0
    b = load(write_npz(tmp_path, X=x, y=np.arange(12) % 2))
    assert b.input_shape == (2, 3, 3)
    assert torch.allclose(b.x_labeled.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-5)


def test_npz_constant_feature_does_not_divide_by_zero(tmp_path):
    x = np.stack([np.arange(6.0), np.ones(6)], axis=1)
    b = load(write_npz(tmp_path, X=x, y=np.arange(6) % 2))
    assert torch.isfinite(b.x_labeled).all() and torch.all(b.x_labeled[:, 1] == 0)


@pytest.mark.parametrize(
    "arrays, words",
    [
        (dict(X=np.zeros((4, 2)), y=np.array([0, 1, 0])), "X has 4 rows but y has 3"),
        (dict(features=np.zeros((4, 2)), y=np.array([0, 1, 0, 1])), r"lacks array X \(keys found: features, y\)"),
        (dict(X=np.array([[0.0], [np.nan], [np.inf], [1]]), y=np.array([0, 1, 0, 1])), r"X in data.npz has NaN or Inf features in 2 rows \(rows 1, 2\)"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 1.5, 0, 1])), "non-integer labels 1.5"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, -3, 0, 1])), "labels -3"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 0, -1, -1])), "only 1 class"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 2, 0, 2])), "class 1 has no labeled sample"),
        (dict(X=np.zeros((4, 1)), y=np.array([-1, -1, 4, 4])), r"2 labeled samples for 5 classes \(0..4\)"),
        (dict(X=np.zeros((4, 1)), y=-np.ones(4)), "no labeled samples"),
        (dict(X=np.zeros((0, 2)), y=np.zeros(0)), "empty"),
        (dict(X=np.zeros(4), y=np.array([0, 1, 0, 1])), r"shape \(4,\).*reshape"),
        (dict(X=np.array(["a", "b"]), y=np.array([0, 1])), "must be numbers"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 1, 0, 1]), X_val=np.zeros((2, 1))), "only one of X_val and y_val"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 1, 0, 1]), X_val=np.zeros((2, 3)), y_val=np.array([0, 1])), "must match"),
        (dict(X=np.zeros((4, 1)), y=np.array([0, 1, 0, 1]), X_test=np.zeros((2, 1)), y_test=np.array([0, 2])), "labels 2 .*0..1"),
    ],
)
def test_npz_bad_input(tmp_path, arrays, words):
    with pytest.raises(SemimixError, match=words):
        load(write_npz(tmp_path, **arrays))


def test_npz_not_a_zip(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_text("not an archive")
    with pytest.raises(SemimixError, match="not a .npz archive.*numpy.savez"):
        load(str(path))


def test_npz_too_few_labels_asked(tmp_path):
    x, y = small_xy()
    with pytest.raises(SemimixError, match="fewer than the 3 classes"):
        load(write_npz(tmp_path, X=x, y=y), labels=2)


def test_npz_carving_can_leave_a_class_unlabeled(tmp_path):
    path = write_npz(tmp_path, X=np.zeros((5, 1)), y=np.array([0, 0, 0, 0, 1]))
    with pytest.raises(SemimixError, match="class 1 has no labeled sample left for training after test_size"):
        load(path, test_size=3)


# --- user .csv ----------------------------------------------------------------------------------


def test_csv_header_and_string_labels(tmp_path):
    text = "height,width,label\n1,2,cat\n3,4,dog\n5,6,\n7,8,cat\n\n9,10,dog\n11,12,-1\n"
    b = load(write_csv(tmp_path, text), normalize=False)
    assert b.class_names == ["cat", "dog"] and b.num_classes == 2
    assert b.x_labeled.tolist() == [[1, 2], [3, 4], [7, 8], [9, 10]]
    assert b.y_labeled.tolist() == [0, 1, 0, 1]
    assert b.x_unlabeled.tolist() == [[5, 6], [11, 12]]


def test_csv_headerless_integer_labels_last_column(tmp_path):
    b = load(write_csv(tmp_path, "0.5,1,0\n1.5,2,1\n2.5,3,2\n3.5,4,-1\n"), normalize=False)
    assert b.num_classes == 3 and b.y_labeled.tolist() == [0, 1, 2] and len(b.x_unlabeled) == 1


def test_csv_label_column_option(tmp_path):
    path = write_csv(tmp_path, "target,a,b\n1,0.1,0.2\n0,0.3,0.4\n")
    b = load(path, label_column="target", normalize=False)
    assert b.y_labeled.tolist() == [1, 0] and b.input_shape == (2,)
    with pytest.raises(SemimixError, match="no column 'y' .*target, a, b"):
        load(path, label_column="y")


@pytest.mark.parametrize(
    "text, words",
    [
        ("a,b,label\n1,2,0\n3,4\n", "line 3 has 2 fields"),
        ("a,b,label\n1,x,0\n3,4,1\n", "line 2, column b: 'x' is not a number"),
        ("a,b,label\n1,nan,0\n3,4,1\n5,inf,1\n", r"NaN or Inf features in 2 lines \(lines 2, 4\)"),
        ("a,b,label\n1,2,0\n3,4,3\n5,6,3\n7,8,3\n", "classes 1, 2 have no labeled sample"),
        ("a,b,label\n1,2,0\n3,4,0.5\n", "non-integer labels 0.5"),
        ("a,b,label\n1,2,cat\n3,4,cat\n", r"only 1 class \(cat\)"),
        ("a,b,label\n", "no data rows"),
        ("", "is empty"),
        ("1;2;0\n3;4;1\n", "only 1 column"),
    ],
)
def test_csv_bad_input(tmp_path, text, words):
    with pytest.raises(SemimixError, match=words):
        load(write_csv(tmp_path, text))


def test_csv_label_column_without_header(tmp_path):
    with pytest.raises(SemimixError, match="no header row"):
        load(write_csv(tmp_path, "1,2,0\n3,4,1\n"), label_column="label")


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"a,b,label\n1,2,\xe9t\xe9\n")
    with pytest.raises(SemimixError, match="cannot read"):
        load(str(path))
