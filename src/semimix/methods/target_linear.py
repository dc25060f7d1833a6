"""Target-linear baseline losses ℓ_b (the DAT paper, sec. 5): cross-entropy, or the negative cosine
(NC) between the model's output and Σ_c t_c φ(c), φ(c) fixed random unit class vectors. Under NC
the model outputs ``nc_dim`` features and predicts the class whose vector is nearest in angle, so
a method using it also changes the model's width and how outputs become class scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

import torch

from semimix.methods.base import check
from semimix.ops import class_embedding, cosine_scores, negative_cosine, soft_cross_entropy
from semimix.validation import bounded, choice

LOSSES = ("ce", "nc")


@dataclass
class TargetLinearParams:
    """The hyperparameters of ℓ_b, mixed into a method's params."""

    loss: str = choice("ce", LOSSES)  # target-linear baseline loss: "ce" or "nc" (negative cosine)
    nc_dim: int = bounded(300, ge=1)  # d of the class vectors for loss "nc" (the paper: 300; 700 for CIFAR-100)
    nc_seed: int = 0  # seed of the fixed random class vectors


T = TypeVar("T", bound=TargetLinearParams)


class TargetLinearLoss(Generic[T]):
    """Mixin for a Method whose params include ``TargetLinearParams``: ℓ_b, the model's output
    width and the class scores, for either loss. Generic in the params as ``Method`` is, so that
    ``class M(TargetLinearLoss[MParams], Method[MParams])`` declares one type of ``params``."""

    name: ClassVar[str]
    params: T

    def embedding(self, num_classes: int, device: torch.device) -> torch.Tensor:
        """The fixed class vectors E (C, nc_dim), the same for every run with this ``nc_seed``."""
        cache = self.__dict__.setdefault("_embeddings", {})
        key = (num_classes, device)
        if key not in cache:
            cache[key] = class_embedding(num_classes, self.params.nc_dim, self.params.nc_seed).to(device)
        return cache[key]

    def target_loss(self, outputs: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
        """ℓ_b(F(x̃), Σ_c t_c φ(c)) for class weights t: soft CE, or the negative cosine to t @ E."""
        if self.params.loss == "ce":
            return soft_cross_entropy(outputs, target_probs)
        self.check_nc_outputs(outputs)
        return negative_cosine(outputs, target_probs @ self.embedding(target_probs.shape[-1], outputs.device).to(target_probs.dtype))

    @property
    def scores_are_logits(self) -> bool:
        return self.params.loss == "ce"

    def output_dim(self, num_classes: int) -> int:
        """How many outputs the model needs: ``nc_dim`` for the NC loss, else one per class."""
        return self.params.nc_dim if self.params.loss == "nc" else num_classes

    def class_scores(self, outputs: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Per-class scores for evaluation (argmax = prediction): the outputs themselves for CE,
        the cosines to the class vectors for NC (argmax = nearest class vector)."""
        if self.params.loss == "ce":
            return outputs
        self.check_nc_outputs(outputs)
        return cosine_scores(outputs, self.embedding(num_classes, outputs.device).to(outputs.dtype))

    def check_nc_outputs(self, outputs: torch.Tensor) -> None:
        check(
            outputs.shape[-1] == self.params.nc_dim,
            f"{self.name}: loss 'nc' needs a model with nc_dim={self.params.nc_dim} outputs "
            f"(build it with method.output_dim(num_classes)), got {outputs.shape[-1]}",
        )
