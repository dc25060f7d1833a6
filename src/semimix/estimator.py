"""``SemiSupervisedClassifier``: every semimix method as a scikit-learn estimator on arrays.

``fit(X, y)`` marks unlabeled samples with -1 in ``y``, as ``sklearn.semi_supervised`` does. The
arrays go through the same path as a user's .npz file (``data.userfile.bundle_user_data``) and are
trained by the same ``Trainer``; the estimator drives its steps directly, so nothing is written to
disk — a fitted estimator is kept the scikit-learn way, by pickling it (a run directory would hold
a config that cannot rebuild the arrays, so it could not be reloaded anyway).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from semimix.data.preprocess import Standardize
from semimix.data.readers.userfile import UserData, check_features
from semimix.data.userfile import bundle_user_data
from semimix.errors import SemimixError
from semimix.eval import predict_logits
from semimix.methods import METHODS, canonical_method_name
from semimix.methods.base import ClassScores, scores_are_logits
from semimix.models import ModelSpec
from semimix.train.config import MAX_SEED, TrainConfig, config_from_dict, load_preset, merge
from semimix.train.trainer import Trainer

UNLABELED = -1
# Besides -1, what marks an unlabeled sample in a y of strings or objects: "-1", "" and None
# (the empty cell of a CSV file), so a string y needs no sentinel of another type.
UNLABELED_OBJECTS = ("-1", "", None)
DEFAULT_PRESET = "tabular"
HYPERPARAMETERS = ("weight", "alpha", "epsilon")  # the method hyperparameters with constructor shortcuts
# epsilon="auto": ε = 0.18·√(features). Standardised inputs have norm about √features, so ε is 0.18 of a
# sample's norm on any width (1.44 on digits' 64 features); the factor was chosen for VAT on validation
# splits of the training data (benchmarks/RESULTS.md, "The estimator against scikit-learn").
AUTO = "auto"
EPSILON_PER_ROOT_FEATURE = 0.18
_ARRAYS = {"accept_sparse": False, "allow_nd": True, "ensure_all_finite": False, "dtype": (np.float64, np.float32)}


def unlabeled_mask(y: np.ndarray) -> np.ndarray:
    """True where ``y`` marks a sample unlabeled (-1; for strings or objects also "-1", "" or None)."""
    if y.dtype.kind in "iuf":
        return y == UNLABELED
    return np.array([v == UNLABELED or v in UNLABELED_OBJECTS for v in y.tolist()], dtype=bool)


class SemiSupervisedClassifier(ClassifierMixin, BaseEstimator):
    """A semimix method trained on ``X`` and ``y`` with -1 (for strings also "" or None) = unlabeled.

    The defaults — an ensemble of 3 networks, each VAT with weight 0.3, ε = 0.18·√features and a
    class-balance term of weight 0.1, an MLP (100, 50), 1000 steps in fp32, whose probabilities are
    averaged — were chosen on validation
    splits of scikit-learn's digits, wine, breast cancer and iris with 5 labels per class (their
    test results: docs/sklearn.md). ``ensemble_size`` networks are trained from seeds
    ``random_state``, ``random_state + 1``, ...; with few labels, one network's accuracy depends on
    its seed by several points, and the average is steadier. ``ensemble_size=1`` fits one network,
    3 times faster.

    Settings come from ``config`` — a bundled preset name (default ``"tabular"``: settings for a few
    labels in small standardised arrays) or YAML path; a dict of config keys (as ``semimix train
    --set`` takes them, nested) over the tabular preset; or None for the library's defaults (the
    papers' hyperparameters) — then from the arguments below, which win where they are not None.
    ``weight``, ``alpha`` and ``epsilon`` set the method's hyperparameter of that name (an error for
    a method without it, so a grid search over methods with different hyperparameters takes a list
    of grids); ``method_params`` sets any other one, e.g. ``{"xi": 1e-6}``. ``epsilon="auto"`` (the
    default) scales the adversarial radius to the input: standardised samples have norm about
    √features, so ε = 0.18·√features is the same fraction of a sample on any width; it is skipped for
    methods without ε, yields to ``method_params``, and None takes the config's ε instead. The
    config's ``data`` section is not used: the data are ``X`` and ``y``.

    ``X`` is (n_samples, n_features), or (n_samples, C, H, W) images, for which ``model="auto"``
    picks a CNN instead of an MLP. ``model`` may also be your own network: an ``nn.Module`` (each
    ``fit`` trains a copy, so the estimator clones cleanly) or a factory ``(input_shape, n_classes) ->
    nn.Module``; methods that mix hidden states refuse it, every input-level method trains it.
    ``standardize`` scales each feature (image: each channel) to zero mean and unit variance with
    statistics of all of ``X``, labeled and unlabeled. The labeled samples also join the unlabeled
    pool, so every method also trains when all of ``y`` is labeled.
    The same ``random_state`` (an int in [0, 2**32 - 1]) gives the same model on the same device; it
    also seeds torch's global generator (None or a ``numpy.random.RandomState`` draws the seed).
    ``threads`` is torch's thread count while fitting (None: the config's, 1 in ``tabular``, where
    small networks fit fastest); torch's own count is restored when ``fit`` returns. Bad input (a
    sparse ``X`` included) raises a ValueError with a one-line message.
    """

    def __init__(
        self,
        method: str = "vat",
        model: str | ModelSpec = "auto",
        steps: int = 1000,
        labeled_batch_size: int = 32,
        unlabeled_batch_size: int = 128,
        lr: float | None = None,
        weight: float | None = None,
        alpha: float | None = None,
        epsilon: float | str | None = AUTO,
        method_params: dict[str, Any] | None = None,
        model_params: dict[str, Any] | None = None,
        config: str | dict[str, Any] | None = DEFAULT_PRESET,
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
        device: str = "auto",
        threads: int | None = None,
        ensemble_size: int = 3,
    ) -> None:
        self.method = method
        self.model = model
        self.steps = steps
        self.labeled_batch_size = labeled_batch_size
        self.unlabeled_batch_size = unlabeled_batch_size
        self.lr = lr
        self.weight = weight
        self.alpha = alpha
        self.epsilon = epsilon
        self.method_params = method_params
        self.model_params = model_params
        self.config = config
        self.standardize = standardize
        self.random_state = random_state
        self.device = device
        self.threads = threads
        self.ensemble_size = ensemble_size

    # ----------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any) -> SemiSupervisedClassifier:
        """Train on ``X``; ``y`` holds a class label per sample, or -1 for an unlabeled one."""
        X, y = validate_data(self, _dense(X), y, **_ARRAYS)
        x = check_features(X, "X")
        self.classes_, codes = _encode_labels(y)
        self.input_shape_ = x.shape[1:]
        cfg = self._train_config(x.shape[1:])
        data = UserData(x, codes, len(self.classes_), [str(c) for c in self.classes_])
        bundle = bundle_user_data(data, cfg.data, cfg.seed, "X")
        if self.standardize:
            axes = (0, *range(2, x.ndim))  # per feature, or per channel of images
            std = x.std(axis=axes)
            bundle.preprocess = Standardize(torch.from_numpy(x.mean(axis=axes)), torch.from_numpy(np.where(std > 0, std, 1.0)))
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, Integral) or self.ensemble_size < 1:
            raise SemimixError(f"ensemble_size must be a positive int (networks trained and averaged), got {self.ensemble_size!r}")
        self.models_: list[nn.Module] = []
        threads = torch.get_num_threads()  # the Trainer sets cfg.threads; the caller's count comes back after
        try:
            for member in range(int(self.ensemble_size)):  # member k: the same data and settings, seed + k
                seed = (cfg.seed + member) % (MAX_SEED + 1)
                trainer = Trainer(dataclasses.replace(cfg, seed=seed), data=bundle, model=self._network())
                while trainer.step < cfg.steps:  # the steps alone: no checkpoints, metrics or summary files
                    trainer.train_step()
                self.models_.append(trainer.eval_model.eval())
        finally:
            torch.set_num_threads(threads)
        self.preprocess_: nn.Module | None = bundle.preprocess
        self.class_scores_: ClassScores | None = trainer.class_scores
        self.method_name_: str = cfg.method
        return self

    def _network(self) -> ModelSpec | None:
        """The user's network for one member: a fresh copy of a module (each member and each fit
        trains its own), the factory itself, or None for a named model."""
        if isinstance(self.model, nn.Module):
            return copy.deepcopy(self.model)
        return None if isinstance(self.model, str) else self.model

    def _train_config(self, input_shape: tuple[int, ...]) -> TrainConfig:
        """The run's config for samples of ``input_shape``: ``config``, then this estimator's arguments."""
        if isinstance(self.config, str):
            values = load_preset(self.config)
        elif isinstance(self.config, dict):
            values = merge(load_preset(DEFAULT_PRESET), self.config)
        elif self.config is None:
            values = {}
        else:
            raise SemimixError(f"config must be a preset name, a YAML path or a dict of config keys, got {type(self.config).__name__}")
        method = canonical_method_name(self.method)
        params = merge(values.get("method_params", {}).get(method, {}), _method_params(self, method, input_shape))
        own = {
            "method": method,
            "model": self.model if isinstance(self.model, str) else "auto",  # a network of the user's is passed to the Trainer
            "steps": self.steps,
            "labeled_batch_size": self.labeled_batch_size,
            "unlabeled_batch_size": self.unlabeled_batch_size,
            "method_params": {method: params},
            "model_params": dict(self.model_params or {}),
            "seed": _seed(self.random_state),
            "device": self.device,
            "progress": False,
            "data": {"dataset": "X", "normalize": False, "unlabeled_includes_labeled": True},
        }
        values = merge({k: v for k, v in values.items() if k != "data"}, own)
        if self.lr is not None:
            values = merge(values, {"optim": {"lr": self.lr}})
        if self.threads is not None:
            values = merge(values, {"threads": self.threads})
        return config_from_dict(values)

    # ----------------------------------------------------------------------------- predicting
    def _scores(self, X: Any) -> torch.Tensor:
        """(n_samples, n_classes): the members' softmax probabilities averaged, or their class scores
        averaged for a method that scores classes by cosine."""
        check_is_fitted(self)
        X = validate_data(self, _dense(X), reset=False, **_ARRAYS)
        x = check_features(X, "X")
        if x.shape[1:] != self.input_shape_:
            raise SemimixError(f"X has samples of shape {x.shape[1:]}, but this classifier was fitted on shape {self.input_shape_}; give X the fitted shape")
        inputs = torch.tensor(x, dtype=torch.float32)
        outputs = [predict_logits(model, inputs, self.preprocess_) for model in self.models_]
        scores = [out if self.class_scores_ is None else self.class_scores_(out) for out in outputs]
        if scores_are_logits(self.class_scores_):  # the members' probabilities, averaged
            return torch.stack([torch.softmax(score.double(), dim=1) for score in scores]).mean(0)
        return torch.stack(scores).mean(0)

    def predict(self, X: Any) -> np.ndarray:
        """The most likely class of each sample, as one of ``classes_``."""
        best = self._scores(X).argmax(dim=1).numpy()
        return self.classes_[best]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``: the
        average of the ensemble members' softmax outputs."""
        scores = self._scores(X)
        if not scores_are_logits(self.class_scores_):
            raise SemimixError(
                f"method {self.method_name_!r} with these settings scores classes by cosine, not logits, so it has no probabilities; use predict"
            )
        return scores.numpy()

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy on the labeled samples of ``y`` only (-1 entries are skipped), so that
        ``cross_val_score`` and ``GridSearchCV`` can score folds of partly labeled data."""
        y = np.asarray(y).ravel()
        labeled = np.flatnonzero(~unlabeled_mask(y))
        if labeled.size == 0:
            raise SemimixError("y has no labeled samples to score (every entry is -1); score on labeled samples")
        weight = None if sample_weight is None else _safe_indexing(sample_weight, labeled)
        return super().score(_safe_indexing(X, labeled), y[labeled], sample_weight=weight)


def _dense(X: Any) -> Any:
    """``X`` unless it is a scipy sparse matrix or array, which the networks cannot take: a
    ValueError (scikit-learn's own refusal is a TypeError, which this estimator's callers do not expect)."""
    if scipy.sparse.issparse(X):
        raise SemimixError(f"X is a scipy sparse {type(X).__name__}, which is not supported; pass X.toarray()")
    return X


def _seed(random_state: Any) -> int:
    """The run's seed: an int ``random_state`` itself, else one drawn from it (None: numpy's global
    generator), checked here so that a bad one is named rather than failing deep in numpy or torch."""
    if isinstance(random_state, Integral) and 0 <= int(random_state) <= MAX_SEED:
        return int(random_state)
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(2**31 - 1))
    raise SemimixError(f"random_state must be None, an int in [0, 2**32 - 1] or a numpy.random.RandomState, got {random_state!r}")


def _method_params(est: SemiSupervisedClassifier, method: str, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """``method_params`` plus the hyperparameter shortcuts that are set; setting one twice is an error.
    ``epsilon="auto"`` is a default, not a setting: it yields to ``method_params`` and to a method without ε."""
    params = dict(est.method_params or {})
    for name in HYPERPARAMETERS:
        value = getattr(est, name)
        if value is None:
            continue
        if name == "epsilon" and value == AUTO:
            if "epsilon" in params or "epsilon" not in _param_names(method):
                continue
            value = EPSILON_PER_ROOT_FEATURE * math.sqrt(math.prod(input_shape))
        if name in params:
            raise SemimixError(f"{name} is set both as {name}={value!r} and in method_params; set it in one place")
        params[name] = value
    return params


def _param_names(method: str) -> set[str]:
    """The hyperparameters ``method`` has."""
    return {f.name for f in dataclasses.fields(METHODS[method].Params)}


def _encode_labels(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted labeled classes and ``y`` as their indices, -1 for unlabeled samples."""
    unlabeled = unlabeled_mask(y)
    labeled = y[~unlabeled]
    if labeled.size == 0:
        raise SemimixError("y has no labeled samples (every entry is -1, the unlabeled marker); label at least one sample of each class")
    check_classification_targets(labeled)
    classes, codes = np.unique(labeled, return_inverse=True)
    if len(classes) < 2:
        raise SemimixError(f"y has only 1 class ({classes[0]!r}) among its labeled samples; a classifier needs labeled samples of at least 2 classes")
    out = np.full(len(y), UNLABELED, dtype=np.int64)
    out[~unlabeled] = codes
    return classes, out
