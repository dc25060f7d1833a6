"""Meta-gradient helpers: parameter perturbation θ ± εd with bit-exact restore, a virtual SGD
step, and a context for auxiliary passes that leaves BatchNorm statistics and module modes alone.

Nothing here touches an optimiser or a parameter's ``.grad``: gradients are taken with
``torch.autograd.grad`` and perturbations act on ``p.data``, which autograd does not version, so a
graph built before a perturbation stays valid (the values it saved are restored bit for bit).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.ops.batchnorm import frozen_batchnorm


def global_norm(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """‖(t_1, …, t_n)‖₂ over all elements of all tensors, as one 0-d tensor (no host sync)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.detach()) for t in tensors]))


@contextmanager
def saved_parameters(params: Sequence[torch.Tensor]) -> Iterator[None]:
    """On exit, every parameter holds exactly (bit for bit) the values it held on entry."""
    saved = [p.data.clone() for p in params]
    try:
        yield
    finally:
        for p, s in zip(params, saved):
            p.data.copy_(s)


@contextmanager
def perturbed_parameters(params: Sequence[torch.Tensor], direction: Sequence[torch.Tensor], scale: torch.Tensor | float) -> Iterator[None]:
    """Inside, θ ← θ + scale·d in place; on exit θ is restored from a saved copy (not by
    subtracting, which would not round-trip exactly in floating point)."""
    with saved_parameters(params):
        for p, d in zip(params, direction):
            p.data.add_(d.detach() * scale)
        yield


@contextmanager
def auxiliary_pass(model: nn.Module, mode: str = "eval") -> Iterator[None]:
    """Forward passes that serve only the meta step: module modes set to ``mode`` ("eval" or
    "train") and BN running statistics frozen; every module's own mode restored on exit."""
    if mode not in ("eval", "train"):
        raise SemimixError(f"auxiliary_pass: mode must be 'eval' (the reference) or 'train' (batch statistics), got {mode!r}")
    modes = [(m, m.training) for m in model.modules()]
    model.train(mode == "train")
    try:
        with frozen_batchnorm(model):
            yield
    finally:
        for m, training in modes:
            m.training = training


def central_difference(
    model: nn.Module, x: torch.Tensor, params: Sequence[torch.Tensor], direction: Sequence[torch.Tensor], eps: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax f(x; θ + εd) and softmax f(x; θ − εd), without gradient; θ restored exactly after each."""
    outs = []
    with torch.no_grad():
        for sign in (1.0, -1.0):
            with perturbed_parameters(params, direction, sign * eps):
                outs.append(torch.softmax(model(x), dim=-1))
    return outs[0], outs[1]


def virtual_sgd_step(named_params: Mapping[str, torch.Tensor], grads: Sequence[torch.Tensor], lr: float) -> dict[str, torch.Tensor]:
    """θ' = θ − lr·∇ as a new parameter dict for ``torch.func.functional_call`` (eq. 4); the real
    parameters are untouched and ``grads`` may carry a graph (differentiate through the step)."""
    return {name: p - lr * g for (name, p), g in zip(named_params.items(), grads)}


def relu_renormalise(probs: torch.Tensor) -> torch.Tensor:
    """The SemiMeta code's projection: relu, then divide each row by its sum; a row that sums to
    0 stays all-zero (so it is then no probability vector), exactly as the reference does."""
    r = probs.clamp_min(0)
    total = r.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, r / torch.where(total > 0, total, torch.ones_like(total)), r)
