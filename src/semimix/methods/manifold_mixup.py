"""Semi-supervised Manifold Mixup (Verma et al. 2019, Algorithm 1 of its appendix D): mixup of
hidden states at a random eligible layer, for the labeled batch with its labels and for the
unlabeled batch with the model's own predictions as targets. Without unlabeled data it is the
supervised Manifold Mixup regulariser.

Defaults follow the reference code of each regime: with unlabeled data the SSL code
(``semi-supervised/main_mixup_hidden_ssl.py``): α 0.1 for both mixups and nn.MSELoss between the
student's logits and the mixed target logits; without, the supervised paper's α (2.0 manifold,
1.0 input mixup). The SSL paper's text (α 0.1 labeled, 2.0 unlabeled; MSE on "soft target
outputs") is ``alpha: 2.0, supervised_alpha: 0.1, divergence: mse``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch

from semimix.methods.base import NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, divergence_field, trained
from semimix.methods.common import mixup_consistency, supervised_loss, target_logits
from semimix.models.base import StagedNet
from semimix.ops import LOGIT_TARGETS, get_divergence
from semimix.validation import bounded, choice

LAYER_CHOICES = ("mixable", "all", "input")
SSL_CODE_ALPHA = 0.1  # both mixups of the reference SSL code


@dataclass
class ManifoldMixupParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # alpha_max of the paper's SSL code
    alpha: float | None = bounded(None, ge=0)  # Beta(α, α); None: 0.1 with unlabeled data (the SSL code), else supervised_only_alpha
    supervised_alpha: float | None = bounded(None, ge=0)  # Beta for the labeled mixup; None: the same as alpha
    layers: str = choice("mixable", LAYER_CHOICES)  # mixable: the model's eligible layers; all: every stage; input: input mixup
    per_sample_lambda: bool = False  # the paper draws one λ (and one layer) per batch
    mix_logits: bool = False  # with a probability divergence, True mixes target logits before the softmax
    divergence: str = divergence_field("mse-logits", logit_targets=True)  # the SSL code's MSE on raw logits; mse: on softmax outputs (the paper's text)
    supervised_only_alpha: float = bounded(2.0, ge=0)  # α without unlabeled data: the supervised Manifold Mixup paper


class ManifoldMixup(Method[ManifoldMixupParams]):
    name = "manifold-mixup"
    summary = "Manifold Mixup: mixup of hidden states, supervised and SSL (Verma et al. 2019)"
    Params = ManifoldMixupParams
    unlabeled = "optional"  # without unlabeled data it is supervised Manifold Mixup

    @property
    def mixes_hidden_states(self) -> bool:
        return self.params.layers != "input"

    def alphas(self, ssl: bool) -> tuple[float, float]:
        """(labeled, unlabeled) Beta parameters: the SSL code's 0.1 with unlabeled data, the
        supervised paper's α without, unless set."""
        p = self.params
        alpha = float(p.alpha) if p.alpha is not None else SSL_CODE_ALPHA if ssl else p.supervised_only_alpha
        return (alpha if p.supervised_alpha is None else float(p.supervised_alpha)), alpha

    def _random_layer(self, model: torch.nn.Module) -> int:
        choice = self.params.layers
        staged = cast(StagedNet, model)  # mixing a hidden layer needs a StagedNet (or a model declaring its layers alike)
        layers = (0,) if choice == "input" else staged.all_mixable_layers if choice == "all" else staged.mixable_layers
        return layers[int(torch.randint(len(layers), ()))]  # drawn on the CPU: no device sync

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        return [*trained(labeled), *([(NO_GRAD, unlabeled), *trained(unlabeled)] if unlabeled else [])]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p = self.params
        supervised_alpha, alpha = self.alphas(batch.x_u is not None)
        terms = {"supervised": supervised_loss(batch, ctx, supervised_alpha, p.per_sample_lambda, self._random_layer(ctx.student))}
        if batch.x_u is not None:
            x_u = ctx.view(batch.x_u)
            consistency = mixup_consistency(
                ctx.student,
                x_u,
                target_logits(ctx.student, x_u),
                alpha=alpha,
                divergence=get_divergence(p.divergence, logit_targets=True),
                layer=self._random_layer(ctx.student),
                per_sample=p.per_sample_lambda,
                mix_logits=p.mix_logits,
                logit_targets=p.divergence in LOGIT_TARGETS,
            )
            terms["consistency"] = p.weight * ctx.ramp * consistency
        return terms
