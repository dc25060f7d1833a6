"""Checks shared by the model tests."""

import torch

from semimix.models.base import StagedNet


def assert_gradients_reach_stages_below_the_mix(model: StagedNet, shape: tuple, batch: int) -> None:
    """Manifold Mixup trains the layers below the mixed one through the mixed state: mixing at the
    deepest mixable layer, every earlier stage must get a non-zero gradient."""
    model.train()
    layer = max(model.mixable_layers)
    lam = 0.3

    def mixup(h: torch.Tensor) -> torch.Tensor:
        return lam * h + (1 - lam) * h.flip(0)

    model(torch.randn(batch, *shape), mix_layer=layer, mix=mixup).logsumexp(1).sum().backward()
    for k in range(layer):
        grads = [p.grad for p in model.stages[k].parameters()]
        assert grads and all(g is not None for g in grads), f"stage {k}"
        assert any(g.abs().sum() > 0 for g in grads), f"stage {k}"
