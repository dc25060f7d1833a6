"""Per-batch input normalisation of the image benchmarks, as the papers' code does it.

Images stay uint8 in memory; the trainer turns each batch into floats of raw pixel values
(0..255), augments it, and then applies one of these modules on the training device. Their
statistics are fitted once, on the CPU in float64, over the training pool (labeled and unlabeled
images, never validation or test images).

What the reference codes do (and the ``preprocess`` name that reproduces it):

* ICT and AdvMixup, CIFAR-10 (``zca``): per-channel standardisation, then ZCA whitening fitted on
  the standardised training images. ICT hard-codes the official CIFAR-10 training statistics,
  mean (125.3, 123.0, 113.9) and std (63.0, 62.1, 66.7); here they are measured on the pool.
* VAT, CIFAR-10: (x - 127.5) / 255, then the same ZCA. The two differ only in the input scale
  the regulariser is added at; ``vat-scale`` alone gives VAT's scaling.
* Neither ICT, VAT nor AdvMixup applies a per-image contrast normalisation; ``gcn-zca`` offers
  the GCN + ZCA of Goodfellow et al.'s maxout and Laine & Aila's code (each image minus its mean,
  divided by its standard deviation, then ZCA) for comparison.
* SVHN: ICT/AdvMixup use (x - 127.5) / 127.5 (``ict-scale``), VAT (x - 127.5) / 255
  (``vat-scale``); semimix's default is ``standardize`` (zero mean, unit variance per channel).

ZCA: with the training covariance C = U diag(S) U^T, x -> (x - mean) W^T where
W = U diag(f(S)) U^T. The reference codes compute f(S) = 1/sqrt(S) + eps (eps = 1e-6 added outside
the square root, so it regularises nothing); ``quirk=False`` gives the textbook
f(S) = 1/sqrt(S + eps). The quirk is the default, to match the papers' numbers. Directions of
zero training variance are projected out in both variants (see ``zca_components``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import nn

from semimix.data.bundle import Inputs
from semimix.errors import SemimixError

PREPROCESS_KINDS = ("standardize", "zca", "gcn-zca", "ict-scale", "vat-scale", "none")
# Fitting reads the pool in float64 chunks of about this size: a few chunks at a time stay small
# next to the pool, and above glibc's 32 MiB mmap threshold each is handed back to the system when
# freed (smaller ones fragment the heap, which then keeps several chunks' worth of memory).
FIT_BYTES = 36 << 20
HALF_RANGE = 127.5


def _per_channel(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A (C,) buffer shaped to broadcast over (N, C, ...) inputs."""
    return values.view(1, -1, *([1] * (x.dim() - 2)))


class Standardize(nn.Module):
    """(x - mean) / std per channel; mean and std are buffers in the input's units (0..255 pixels)."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).flatten())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - _per_channel(self.mean, x)) / _per_channel(self.std, x)


class GlobalContrastNorm(nn.Module):
    """Global contrast normalisation: each image minus its mean, divided by its std (over C·H·W).

    A constant image (std below ``eps``) maps to zeros instead of dividing by zero.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        centred = flat - flat.mean(dim=1, keepdim=True)
        std = centred.pow(2).mean(dim=1, keepdim=True).sqrt()
        return (centred / std.clamp_min(self.eps)).reshape(x.shape)


class ZCAWhiten(nn.Module):
    """x -> (x - mean) W^T on flattened images; ``mean`` (D,) and ``components`` W (D, D) are buffers."""

    mean: torch.Tensor  # buffers, registered in __init__
    components: torch.Tensor

    def __init__(self, mean: torch.Tensor, components: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.to(torch.float32))
        self.register_buffer("components", components.to(torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.flatten(1) - self.mean) @ self.components.T).reshape(x.shape)


def _float64_chunks(parts: Sequence[Inputs]) -> Iterator[torch.Tensor]:
    """The rows of ``parts`` as float64 CPU chunks, so no float copy of the whole pool ever exists."""
    for part in parts:
        rows = max(1, FIT_BYTES // (8 * max(1, math.prod(part.shape[1:]))))
        for start in range(0, len(part), rows):
            yield part[start : start + rows].to("cpu", torch.float64)


def channel_stats(parts: Sequence[Inputs]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (population) over all rows of ``parts`` (N, C, ...); std 0 becomes 1."""
    total, sum_x, sum_xx = 0, torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    for x in _float64_chunks(parts):
        dims = [0, *range(2, x.dim())]
        sum_x = sum_x + x.sum(dim=dims)
        sum_xx = sum_xx + x.pow(2).sum(dim=dims)
        total += x.numel() // x.shape[1]
    if not total:
        raise SemimixError("no training images to measure the channel statistics on")
    mean = sum_x / total
    std = (sum_xx / total - mean.pow(2)).clamp_min(0).sqrt()
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def zca_components(cov: np.ndarray, epsilon: float, quirk: bool) -> np.ndarray:
    """W = U diag(f(S)) U^T for the covariance ``cov`` (its buffer is reused for W), f as in the module docstring.

    Directions the training images do not span (variance within rounding of 0: the constant
    direction after GCN, MNIST's always-black borders) get f = 0, i.e. they are projected out,
    where the formula would multiply by 1/sqrt(0) (quirk, or textbook with eps = 0).
    """
    variances, vectors = scipy.linalg.eigh(cov.T, driver="evr", overwrite_a=True, check_finite=False)  # .T: Fortran order, same matrix
    regularised = np.clip(variances, 0.0, None) + (0.0 if quirk else epsilon)
    spanned = regularised > variances.max() * len(variances) * np.finfo(np.float64).eps
    scale = np.zeros_like(regularised)
    scale[spanned] = 1.0 / np.sqrt(regularised[spanned]) + (epsilon if quirk else 0.0)
    vectors *= np.sqrt(scale)  # W = (U sqrt(f)) (U sqrt(f))^T, written over cov: no third D×D array
    return np.matmul(vectors, vectors.T, out=cov)


def fit_zca(parts: Sequence[Inputs], prepare: nn.Module, epsilon: float, quirk: bool) -> ZCAWhiten:
    """ZCA whitening fitted on ``prepare(x)`` for the rows of ``parts``, in float64 chunks."""
    total, sum_x, gram = 0, None, None
    for x in _float64_chunks(parts):
        flat = prepare(x).reshape(len(x), -1)
        if gram is None:
            sum_x, gram = torch.zeros(flat.shape[1], dtype=torch.float64), torch.zeros(flat.shape[1], flat.shape[1], dtype=torch.float64)
        sum_x += flat.sum(dim=0)
        gram.addmm_(flat.T, flat)
        total += len(flat)
    if sum_x is None or gram is None:
        raise SemimixError("no training images to fit ZCA whitening on")
    mean = sum_x / total
    cov = gram.div_(total).addr_(mean, mean, alpha=-1.0)  # E[xx^T] - mean mean^T, in place
    return ZCAWhiten(mean, torch.from_numpy(zca_components(cov.numpy(), epsilon, quirk)))


def check_preprocess(kind: str, epsilon: float) -> None:
    """Fail on a bad setting before any data is read."""
    if kind not in PREPROCESS_KINDS:
        raise SemimixError(f"unknown preprocess {kind!r}; choose one of {', '.join(PREPROCESS_KINDS)}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon >= 0:
        raise SemimixError(f"zca_epsilon must be a number >= 0, got {epsilon!r}")


def build_preprocess(kind: str, parts: Sequence[Inputs], epsilon: float = 1e-6, quirk: bool = True) -> nn.Module | None:
    """The module for ``kind`` (one of ``PREPROCESS_KINDS``), fitted on the training pool ``parts``
    (raw images (N, C, H, W) of any dtype, or image files); None for ``none``."""
    check_preprocess(kind, epsilon)
    channels = parts[0].shape[1]
    if kind == "none":
        return None
    if kind in ("ict-scale", "vat-scale"):
        return Standardize([HALF_RANGE] * channels, [HALF_RANGE if kind == "ict-scale" else 2 * HALF_RANGE] * channels)
    prepare = GlobalContrastNorm() if kind == "gcn-zca" else Standardize(*channel_stats(parts))
    if kind == "standardize":
        return prepare
    return nn.Sequential(prepare, fit_zca(parts, prepare, epsilon, quirk))


# The fitted modules as plain data (str, float, CPU tensors, lists and dicts), which a checkpoint
# carries and ``torch.load(weights_only=True)`` reads back: the kind of each module and its statistics.
_KINDS: dict[type[nn.Module], str] = {Standardize: "standardize", GlobalContrastNorm: "global-contrast-norm", ZCAWhiten: "zca-whiten"}


def describe_preprocess(module: nn.Module | None) -> dict[str, Any] | None:
    """A fitted preprocessing module (one of this module's, an ``nn.Sequential`` of them, or None)
    as plain data that ``rebuild_preprocess`` turns back into the same module. Any other module is
    a SemimixError: it cannot be rebuilt without its code."""
    if module is None:
        return None
    if isinstance(module, nn.Sequential):
        return {"kind": "sequential", "steps": [describe_preprocess(step) for step in module]}
    kind = _KINDS.get(type(module))
    if kind is None:
        known = ", ".join(c.__name__ for c in _KINDS)
        raise SemimixError(f"cannot describe the preprocessing module {type(module).__name__}; only {known} and nn.Sequential of them")
    if isinstance(module, GlobalContrastNorm):
        return {"kind": kind, "eps": float(module.eps)}
    return {"kind": kind, **{name: buffer.detach().to("cpu", copy=True) for name, buffer in module.named_buffers()}}


def rebuild_preprocess(description: dict[str, Any] | None) -> nn.Module | None:
    """The module ``describe_preprocess`` described (on the CPU), or None for None."""
    if description is None:
        return None
    try:
        kind = description["kind"]
        if kind == "sequential":
            steps = [rebuild_preprocess(step) for step in description["steps"]]
            return nn.Sequential(*(step for step in steps if step is not None))
        if kind == "standardize":
            return Standardize(description["mean"], description["std"])
        if kind == "global-contrast-norm":
            return GlobalContrastNorm(float(description["eps"]))
        if kind == "zca-whiten":
            return ZCAWhiten(description["mean"], description["components"])
    except (KeyError, TypeError) as exc:
        raise SemimixError(f"a damaged preprocessing description (missing or bad {exc}); replace the checkpoint with one semimix wrote") from None
    raise SemimixError(f"unknown preprocessing kind {kind!r} in the checkpoint; was it written by a newer semimix?")
