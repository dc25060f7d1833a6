"""Semi-supervised input mixup (Verma et al. 2019, Algorithm 3 of Manifold Mixup's appendix D):
Manifold Mixup restricted to the input layer; supervised mixup (Zhang et al.) without unlabeled data."""

from __future__ import annotations

from dataclasses import dataclass

from semimix.methods.manifold_mixup import ManifoldMixup, ManifoldMixupParams


@dataclass
class InputMixupParams(ManifoldMixupParams):
    supervised_only_alpha: float = 1.0  # Zhang et al.'s and the Manifold Mixup paper's input-mixup α
    layers: str = "input"


class InputMixup(ManifoldMixup):
    name = "input-mixup"
    summary = "Input mixup, supervised (Zhang et al. 2018) and SSL (Manifold Mixup paper, Alg. 3); alias 'mixup'"
    Params = InputMixupParams
