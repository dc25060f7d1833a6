"""Directional Adversarial Training (the DAT paper, sec. 3): mixup of inputs that keeps the first
sample's label, ℓ_b(F(λx + (1−λ)x'), y) with λ ~ Beta(α, β), i.e. Untied MixUp with γ ≡ 1 and
an unsymmetrised policy. By Lemma 4 it has, on symmetric pair samples, the expected loss of
Untied MixUp with U(B(α, β)); the default Beta(2, 1) thus matches mixup with Beta(1, 1).
On unlabeled data it is a consistency term on the EMA teacher's prediction of the first sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from semimix.methods.untied_mixup import TargetMixParams, UntiedMixup
from semimix.ops import sample_beta


@dataclass
class DATParams(TargetMixParams):
    """α, β of the adversarial policy P_DAT = Beta(α, β); the rest as in Untied MixUp."""


class DAT(UntiedMixup[DATParams]):
    name = "dat"
    summary = "DAT: mix inputs with λ ~ Beta(α,β), keep the first sample's label (MixUp as DAT paper)"
    Params = DATParams

    def draw(self, n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        lam = sample_beta(self.params.alpha, self.params.beta, (n,) if self.params.per_sample_lambda else (), device)
        return lam, torch.ones_like(lam)
