"""Semi-supervised Manifold Mixup (Verma et al. 2019, Algorithm 1 of its appendix D): mixup of
hidden states at a random eligible layer, for the labeled batch with its labels and for the
unlabeled batch with the model's own predictions as targets. Without unlabeled data it is the
supervised Manifold Mixup regulariser."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, check, trained
from semimix.methods.common import mixup_consistency, supervised_loss, target_logits
from semimix.ops import get_divergence

LAYER_CHOICES = ("mixable", "all", "input")


@dataclass
class ManifoldMixupParams(MethodParams):
    weight: float = 1.0  # alpha_max of the paper's SSL code
    alpha: float = 2.0  # Beta(α, α); the paper's supervised default
    supervised_alpha: float | None = None  # Beta for the labeled mixup; None: alpha (the paper's SSL runs: 0.1 labeled, 2.0 unlabeled)
    layers: str = "mixable"  # mixable: the model's eligible layers; all: every stage; input: input mixup
    per_sample_lambda: bool = False  # the paper draws one λ (and one layer) per batch
    mix_logits: bool = False  # True: mix target logits (the reference SSL code)
    divergence: str = "mse"


class ManifoldMixup(Method):
    name = "manifold-mixup"
    summary = 'Manifold Mixup: mixup of hidden states, supervised and SSL (Verma et al. 2019)'
    Params = ManifoldMixupParams
    unlabeled = "optional"  # without unlabeled data it is supervised Manifold Mixup

    def validate(self) -> None:
        p = self.params
        check(p.layers in LAYER_CHOICES, f"{self.name}: layers must be one of {LAYER_CHOICES}, got {p.layers!r}")
        check(
            p.supervised_alpha is None or (isinstance(p.supervised_alpha, (int, float)) and not isinstance(p.supervised_alpha, bool) and p.supervised_alpha >= 0),
            f"{self.name}: supervised_alpha must be a number >= 0 (0: plain cross-entropy) or null (the same as alpha), got {p.supervised_alpha!r}",
        )
        get_divergence(self.params.divergence)

    def _random_layer(self, model: torch.nn.Module) -> int:
        choice = self.params.layers
        layers = (0,) if choice == "input" else model.all_mixable_layers if choice == "all" else model.mixable_layers
        return layers[int(torch.randint(len(layers), ()))]  # drawn on the CPU: no device sync

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled), *([(NO_GRAD, unlabeled), *trained(unlabeled)] if unlabeled else [])]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p = self.params
        supervised_alpha = p.alpha if p.supervised_alpha is None else float(p.supervised_alpha)
        terms = {
            "supervised": supervised_loss(batch, ctx, supervised_alpha, p.per_sample_lambda, self._random_layer(ctx.student))
        }
        if batch.x_u is not None:
            x_u = ctx.augment(batch.x_u)
            consistency = mixup_consistency(
                ctx.student,
                x_u,
                target_logits(ctx.student, x_u),
                alpha=p.alpha,
                divergence=get_divergence(p.divergence),
                layer=self._random_layer(ctx.student),
                per_sample=p.per_sample_lambda,
                mix_logits=p.mix_logits,
            )
            terms["consistency"] = p.weight * ctx.ramp * consistency
        return terms
