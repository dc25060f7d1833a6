"""Mixup building blocks: λ sampling, pairing by permutation, mixing of inputs and targets."""

from __future__ import annotations

import torch

from semimix.errors import SemimixError


def sample_lambda(alpha: float, batch_size: int | None = None, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """λ ~ Beta(α, α): one scalar (``batch_size=None``, the papers' default) or one per sample.

    α ≤ 0 means "no mixing" (λ = 1), as in the ICT and Manifold Mixup codes. Sampling happens on
    ``device`` so no host-device transfer is needed inside a training step.
    """
    shape = () if batch_size is None else (batch_size,)
    if alpha <= 0:
        return torch.ones(shape, device=device)
    concentration = torch.full(shape, float(alpha), device=device)
    return torch.distributions.Beta(concentration, concentration).sample()


def dominant_lambda(lam: torch.Tensor) -> torch.Tensor:
    """λ' = max(λ, 1−λ) (MixMatch eq. 9): each mixed sample stays closer to its first source, so a
    mixed labeled sample still counts as labeled and a mixed unlabeled one as unlabeled."""
    return torch.maximum(lam, 1 - lam)


def pair_permutation(batch_size: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """A random permutation pairing sample i with sample perm[i] of the same batch."""
    return torch.randperm(batch_size, device=device)


def mix(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """λa + (1−λ)b; a per-sample λ of shape (N,) broadcasts over all non-batch dims."""
    lam_t = torch.as_tensor(lam, dtype=a.dtype, device=a.device)
    if lam_t.dim() == 1:
        lam_t = lam_t.view(-1, *([1] * (a.dim() - 1)))
    return b + lam_t * (a - b)


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Labels as probability vectors, so hard and soft targets mix the same way."""
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype)


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^(1/T) renormalised over classes (MixMatch); T → 0 tends to one-hot."""
    if temperature <= 0:
        raise SemimixError(f"sharpen: temperature must be > 0 (MixMatch uses 0.5), got {temperature!r}")
    logits = torch.log(probs.clamp_min(1e-12)) / temperature
    return torch.softmax(logits, dim=-1)
