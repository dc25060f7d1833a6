"""The DAT paper's negative-cosine (NC) loss (sec. 2, 6.1): each class y has a fixed random unit
vector φ(y) ∈ R^d, the model outputs a d-vector v that is normalised, and ℓ_nc(v, t) = −v̂ᵀt.
The loss is target-linear, so a mixed target γφ(y) + (1−γ)φ(y') is simply (γ·onehot(y) +
(1−γ)·onehot(y')) @ E, with E the (C, d) matrix of class vectors. The prediction is the nearest
class vector: for unit vectors ‖v̂ − e‖² = 2 − 2·v̂ᵀe, so the largest cosine score wins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NC_DIM = 300  # the paper's d for CIFAR-10, MNIST and Fashion-MNIST (700 for CIFAR-100)


def class_embedding(num_classes: int, dim: int = NC_DIM, seed: int = 0) -> torch.Tensor:
    """E: (num_classes, dim), one random unit vector per class, the same for a given seed."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(num_classes, dim, generator=g), dim=1)


def negative_cosine(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Batch mean of −⟨v / ‖v‖, t⟩ for outputs v and target vectors t (unit, or mixtures of them)."""
    return -(F.normalize(outputs, dim=-1) * targets).sum(dim=-1).mean()


def cosine_scores(outputs: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """(N, C) cosines between the normalised outputs and the class vectors; argmax = nearest class."""
    return F.normalize(outputs, dim=-1) @ embedding.t()
