"""The scikit-learn estimator: scikit-learn's own estimator checks, model selection on partly
labeled digits, determinism, string labels, and bad input as one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import semimix
from semimix.estimator import SemiSupervisedClassifier
from semimix.eval import predict_logits

# Binary labels -1 and 1 cannot apply: -1 marks an unlabeled sample, the convention of
# sklearn.semi_supervised (whose own estimators scikit-learn exempts from that part of the check).
EXPECTED_FAILED = {"check_classifiers_classes": "-1 marks unlabeled samples, so -1/1 binary labels leave one class"}


@parametrize_with_checks([SemiSupervisedClassifier(steps=20)], expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened digits with 10% of the labels kept (the rest -1), and the true labels."""
    X, y = load_digits(return_X_y=True)
    partial = np.where(np.random.default_rng(0).random(len(y)) < 0.1, y, -1)
    return X, y, partial


@pytest.mark.slow
def test_grid_search_over_method_and_weight_in_a_pipeline(digits) -> None:
    X, y, partial = digits
    pipe = make_pipeline(StandardScaler(), SemiSupervisedClassifier(steps=100, random_state=0))
    grid = {"semisupervisedclassifier__method": ["ict", "advmixup"], "semisupervisedclassifier__weight": [1.0, 10.0]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X[:1200], partial[:1200])
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["semisupervisedclassifier__method"] in ("ict", "advmixup")
    assert search.score(X[1200:], y[1200:]) > 0.7  # 120 labels: far above the 0.1 of chance


def test_scores_use_labeled_samples_only(digits) -> None:
    X, y, partial = digits
    clf = SemiSupervisedClassifier(method="supervised", steps=40, random_state=0).fit(X, partial)
    labeled = partial != -1
    assert clf.score(X, partial) == clf.score(X[labeled], y[labeled])
    scores = cross_val_score(clf, X, partial, cv=3)
    assert len(scores) == 3 and (scores > 0.3).all()


def test_random_state_makes_fits_identical(digits) -> None:
    X, _, partial = digits

    def fit(seed: int) -> np.ndarray:
        return SemiSupervisedClassifier(method="mean-teacher", steps=30, random_state=seed).fit(X, partial).predict_proba(X[:50])

    first = fit(0)
    np.testing.assert_array_equal(first, fit(0))
    assert not np.array_equal(first, fit(1))
    np.testing.assert_allclose(first.sum(axis=1), 1.0)


def test_string_labels_with_empty_or_none_as_unlabeled(digits) -> None:
    X, y, partial = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"], dtype=object)
    strings = names[y]
    strings[partial == -1] = ""
    strings[:5][partial[:5] == -1] = None
    clf = SemiSupervisedClassifier(method="vat", steps=30, random_state=0).fit(X, strings)
    assert list(clf.classes_) == sorted(names)
    assert set(clf.predict(X[:100])) <= set(names)
    assert clf.score(X, names[y]) > 0.5


def test_model_auto_is_a_cnn_for_images_and_an_mlp_for_features(digits) -> None:
    X, _, partial = digits
    images = SemiSupervisedClassifier(method="supervised", steps=2, random_state=0).fit(X.reshape(-1, 1, 8, 8), partial)
    flat = SemiSupervisedClassifier(method="supervised", steps=2, random_state=0).fit(X, partial)
    assert type(images.models_[0]).__name__ == "SmallCNN" and type(flat.models_[0]).__name__ == "MLP"
    assert images.n_features_in_ == 1 and flat.n_features_in_ == 64
    with pytest.raises(ValueError, match=r"shape \(1, 4, 16\).*fitted on shape \(1, 8, 8\)"):
        images.predict(X.reshape(-1, 1, 4, 16))


def test_the_ensemble_averages_members_trained_from_consecutive_seeds(digits) -> None:
    X, _, partial = digits
    ensemble = SemiSupervisedClassifier(steps=20, random_state=7, ensemble_size=3).fit(X, partial)
    single = SemiSupervisedClassifier(steps=20, random_state=7, ensemble_size=1).fit(X, partial)
    assert len(ensemble.models_) == 3 and len(single.models_) == 1
    first = [p.detach() for p in ensemble.models_[0].parameters()]
    assert all(torch.equal(a, b.detach()) for a, b in zip(first, single.models_[0].parameters(), strict=True))  # member 0: seed 7
    assert not torch.equal(first[0], next(ensemble.models_[1].parameters()).detach())  # member 1: seed 8, other weights
    x = torch.tensor(X[:25], dtype=torch.float32)
    by_hand = np.mean([torch.softmax(predict_logits(m, x, ensemble.preprocess_).double(), dim=1).numpy() for m in ensemble.models_], axis=0)
    np.testing.assert_allclose(ensemble.predict_proba(X[:25]), by_hand, rtol=1e-12)
    np.testing.assert_array_equal(ensemble.predict(X[:25]), ensemble.classes_[by_hand.argmax(axis=1)])


def test_fit_trains_on_its_threads_and_gives_torch_its_own_count_back(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    X, _, partial = digits
    seen: list[int] = []
    original = semimix.estimator.Trainer.train_step
    monkeypatch.setattr(semimix.estimator.Trainer, "train_step", lambda trainer: (seen.append(torch.get_num_threads()), original(trainer))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        SemiSupervisedClassifier(steps=3, ensemble_size=2, random_state=0).fit(X, partial)
        assert seen == [1] * 6 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_parameters_round_trip_through_clone() -> None:
    clf = SemiSupervisedClassifier(method="ict", alpha=0.5, method_params={"supervised_mixup_alpha": 0.0}, config={"ema_decay": 0.9})
    copy = clone(clf).set_params(steps=7)
    assert copy.get_params()["method_params"] == {"supervised_mixup_alpha": 0.0} and copy.steps == 7
    assert clf.steps == 1000 and semimix.SemiSupervisedClassifier is SemiSupervisedClassifier
    cfg = copy._train_config((64,))
    assert cfg.method_params["ict"] == {"weight": 10.0, "alpha": 0.5, "supervised_mixup_alpha": 0.0}  # tabular preset, then ours
    assert cfg.ema_decay == 0.9 and cfg.steps == 7 and not cfg.progress
    assert clone(clf).set_params(config=None)._train_config((64,)).method_params["ict"] == {"alpha": 0.5, "supervised_mixup_alpha": 0.0}


def test_defaults_are_the_documented_ones() -> None:
    """docs/sklearn.md's defaults: 3 networks, each VAT, weight 0.3, ε = 0.18·√features, MLP, 1000 steps, lr 0.05, fp32."""
    assert SemiSupervisedClassifier().ensemble_size == 3
    cfg = SemiSupervisedClassifier()._train_config((16,))
    assert (cfg.method, cfg.model, cfg.steps, cfg.optim.lr, cfg.precision, cfg.threads) == ("vat", "auto", 1000, 0.05, "fp32", 1)
    assert SemiSupervisedClassifier(threads=2)._train_config((16,)).threads == 2
    assert cfg.method_params["vat"]["weight"] == 0.3 and cfg.method_params["vat"]["epsilon"] == pytest.approx(0.18 * 4)
    assert SemiSupervisedClassifier()._train_config((1, 8, 8)).method_params["vat"]["epsilon"] == pytest.approx(0.18 * 8)  # C·H·W features


def test_auto_epsilon_yields_to_settings_and_to_methods_without_one() -> None:
    assert SemiSupervisedClassifier(epsilon=None)._train_config((16,)).method_params["vat"]["epsilon"] == 1.0  # the config's
    assert SemiSupervisedClassifier(method_params={"epsilon": 2.0})._train_config((16,)).method_params["vat"]["epsilon"] == 2.0
    assert SemiSupervisedClassifier(epsilon=0.5)._train_config((16,)).method_params["vat"]["epsilon"] == 0.5
    assert "epsilon" not in SemiSupervisedClassifier(method="ict")._train_config((16,)).method_params["ict"]
    assert SemiSupervisedClassifier(method="advmixup")._train_config((25,)).method_params["advmixup"]["epsilon"] == pytest.approx(0.9)


@pytest.mark.parametrize(
    "params, X, y, message",
    [
        ({}, np.ones((6, 2)), [-1] * 6, "y has no labeled samples"),
        ({}, [[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]], [0, 1, -1], "X has NaN or Inf features in 1 rows"),
        ({"method": "supervised", "weight": 2.0}, np.eye(4), [0, 1, 0, 1], "method 'supervised' has no parameter 'weight'"),
        ({"weight": 2.0, "method_params": {"weight": 3.0}}, np.eye(4), [0, 1, 0, 1], "weight is set both"),
        ({"epsilon": "big"}, np.eye(4), [0, 1, 0, 1], "vat.epsilon must be a float like 6.0, got 'big'"),
        ({"method": "advmix"}, np.eye(4), [0, 1, 0, 1], "unknown method 'advmix'; valid methods"),
        ({}, np.eye(4), [0.5, 1.5, 0.5, 2.5], "Unknown label type"),
        ({}, scipy.sparse.csr_matrix(np.eye(4)), [0, 1, 0, 1], r"X is a scipy sparse csr_matrix, which is not supported; pass X\.toarray\(\)"),
        ({"random_state": -1}, np.eye(4), [0, 1, 0, 1], r"random_state must be None, an int in \[0, 2\*\*32 - 1\] or a numpy.random.RandomState, got -1"),
        ({"random_state": 2**32}, np.eye(4), [0, 1, 0, 1], r"an int in \[0, 2\*\*32 - 1\] .*, got 4294967296"),
        ({"random_state": 1.5}, np.eye(4), [0, 1, 0, 1], r"an int in \[0, 2\*\*32 - 1\] .*, got 1.5"),
        ({"ensemble_size": 0}, np.eye(4), [0, 1, 0, 1], r"ensemble_size must be a positive int \(networks trained and averaged\), got 0"),
    ],
)
def test_bad_input_is_one_clear_line(params: dict, X, y, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        SemiSupervisedClassifier(steps=2, **params).fit(X, y)
    assert "\n" not in str(err.value)


def test_wrong_number_of_features_at_predict() -> None:
    clf = SemiSupervisedClassifier(steps=2).fit(np.eye(4), [0, 1, 0, -1])
    with pytest.raises(ValueError, match="X has 3 features, but SemiSupervisedClassifier is expecting 4 features") as err:
        clf.predict(np.ones((2, 3)))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"scipy sparse csr_array, which is not supported; pass X\.toarray\(\)"):
        clf.predict(scipy.sparse.csr_array(np.eye(4)))
