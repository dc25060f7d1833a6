"""MNIST-1D (Greydanus, 2020): ten 1-D "digit" signals of length 40, generated here in numpy.

The benchmark turns ten hand-drawn 12-point templates into 5000 samples (500 per digit): each
template is padded with 36–60 zeros, stretched to 72 points, scaled by a random factor in
[0.8, 1.2], circularly shifted by 0–47 points, the padding filled with smooth (Gaussian-filtered)
noise, white noise added everywhere, a random linear slope (shear) subtracted, and the result
resampled to 40 points. The whole set is then centred and scaled to standard deviation 1, and
split into the first 4000 (train) and last 1000 (test) samples after a seeded shuffle.

``generate`` draws its random numbers from ``numpy.random.RandomState(42)`` in the same order as
the reference generator (``greydanus/mnist1d``, ``make_dataset(get_dataset_args())``) and
resamples the way its linear interpolation does, so everyone gets the published benchmark's
samples, whatever the run seed. The run seed only chooses the semi-supervised split. Generation
takes well under a second, so nothing is cached.

Inputs have shape (1, 40): one channel of length 40, ready for a 1-D CNN (flatten for an MLP).
They keep the benchmark's own global standardisation, whatever ``cfg.normalize`` says: a
per-position standardisation would treat each of the 40 positions differently and undo the shift
structure that convolutions exploit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from semimix.data.assemble import split_and_bundle
from semimix.data.bundle import DataBundle
from semimix.data.config import DataConfig
from semimix.data.splits import resolve_labels
from semimix.errors import SemimixError

NAME = "mnist1d"  # its name in the registry (semimix.data.registry), aliases and description there too

DEFAULT_LABELS = 100  # 10 per class
DEFAULT_VAL_SIZE = 500  # carved (stratified) from the 4000 training samples

# The ten 12-point templates of the benchmark (digits 0..9), before whitening.
TEMPLATES = np.array(
    [
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ]
)
PAD_EPS = 1e-8  # added to the template before padding, so "signal" and "padding" can be told apart


@dataclass(frozen=True)
class Mnist1dSettings:
    """The generator's knobs; the defaults are the benchmark's (``get_dataset_args`` in the reference)."""

    num_samples: int = 5000
    train_split: float = 0.8
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40
    seed: int = 42


BENCHMARK = Mnist1dSettings()


def templates() -> np.ndarray:
    """The templates whitened per digit, shifted to start (and end) at 0, and scaled by 1/6."""
    x = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


def _resample(rows: np.ndarray, n_out: int) -> np.ndarray:
    """Linear interpolation of each row (on an even grid over [0, 1]) at ``n_out`` even points.

    Computed as ``numpy.interp`` does (interval with its left knot <= the point, a knot's own
    value on a knot), so the result matches the reference generator bit for bit.
    """
    src = np.linspace(0.0, 1.0, rows.shape[1])
    dst = np.linspace(0.0, 1.0, n_out)
    j = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, len(src) - 2)
    slope = (rows[:, j + 1] - rows[:, j]) / (src[j + 1] - src[j])
    out = slope * (dst - src[j]) + rows[:, j]
    on_knot = dst == src[j]
    out[:, on_knot] = rows[:, j[on_knot]]
    out[:, dst == src[-1]] = rows[:, -1:]
    return out


def _draws(n: int, s: Mnist1dSettings, rs: np.random.RandomState) -> dict[str, np.ndarray]:
    """Every random number of ``n`` samples, drawn per sample in the reference generator's order
    (padding, scale, shift, smooth noise, white noise, shear) so the stream lines up with it."""
    low, high = s.padding
    length = s.template_len + high
    pad, scale, shift, shear = (np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.int64), np.empty(n))
    corr, iid = np.empty((n, length)), np.empty((n, length))
    for i in range(n):
        pad[i] = low + int(rs.rand() * (high - low + 1))
        scale[i] = 1 + s.scale_coeff * (rs.rand() - 0.5)
        shift[i] = rs.choice(s.max_translation)
        corr[i] = s.corr_noise_scale * rs.randn(length)
        iid[i] = s.iid_noise_scale * rs.randn(length)
        shear[i] = s.shear_scale * (rs.rand() - 0.5)
    return {"pad": pad, "scale": scale, "shift": shift, "corr": corr, "iid": iid, "shear": shear}


def generate(settings: Mnist1dSettings = BENCHMARK) -> tuple[np.ndarray, np.ndarray]:
    """All ``num_samples`` signals (float64, shape (N, final_seq_length)) and their digits (int64),
    in the benchmark's order: the first ``train_split`` of them are its training set."""
    s = settings
    rs = np.random.RandomState(s.seed)
    base = templates()
    if base.shape[1] != s.template_len:
        raise SemimixError(f"template_len={s.template_len} but the templates have {base.shape[1]} points; keep 12")
    per_class = s.num_samples // len(base)
    y = np.repeat(np.arange(len(base)), per_class)
    d = _draws(len(y), s, rs)
    length = s.template_len + s.padding[1]

    # pad with zeros, then stretch every padded signal to the same length (grouped by padded length)
    x = np.empty((len(y), length))
    padded = np.zeros((len(y), length))
    padded[:, : s.template_len] = base[y] + PAD_EPS
    for p in np.unique(d["pad"]):
        rows = np.flatnonzero(d["pad"] == p)
        x[rows] = _resample(padded[rows, : s.template_len + p], length)
    x *= d["scale"][:, None]
    shifted = (np.arange(length)[None, :] - d["shift"][:, None]) % length  # circular shift right
    x = np.take_along_axis(x, shifted, axis=1)

    # smooth noise where there is no signal, white noise everywhere, a random slope, then resample
    smooth = gaussian_filter1d(d["corr"], 2, axis=1)
    x = np.where(x != 0, x, smooth) + d["iid"]
    x = x - d["shear"][:, None] * np.linspace(-0.5, 0.5, length)
    x = _resample(x, s.final_seq_length)

    order = rs.permutation(len(y))
    x, y = x[order], y[order]
    return (x - x.mean()) / x.std(), y


def load(cfg: DataConfig, seed: int) -> DataBundle:
    """MNIST-1D as the benchmark defines it: inputs (1, 40), 10 classes, the benchmark's 1000 test
    samples as the test set. From its 4000 training samples, a stratified validation set
    (``val_size``, default 500) and then ``labels`` (or ``labels_per_class``) class-balanced
    labeled samples (default 100); the rest are unlabeled, their true labels kept in
    ``y_unlabeled_true``.

    ``split`` indexes the benchmark's 5000 samples (0..3999 its train set, 4000..4999 its test set).
    """
    if cfg.test_size is not None:
        raise SemimixError(f"mnist1d has a fixed test set (the benchmark's 1000 samples), so test_size={cfg.test_size!r} cannot be used; unset test_size")
    x, y = generate()
    x = x[:, None, :]
    n_train = int(len(y) * BENCHMARK.train_split)
    return split_and_bundle(
        NAME,
        x[:n_train],
        y[:n_train],
        np.random.default_rng(seed),
        labels=resolve_labels(cfg.labels, cfg.labels_per_class, 10, DEFAULT_LABELS),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        val_size=DEFAULT_VAL_SIZE if cfg.val_size is None else cfg.val_size,
        test=(x[n_train:], y[n_train:]),
        unlabeled_includes_labeled=cfg.unlabeled_includes_labeled,
        split={"test": np.arange(n_train, len(y))},
    )
