"""Weight decay as the reference codes apply it (semimix.train.optim): L2 in the gradient or decoupled after the
step, on every parameter or on the kernels only — each on a hand-computed case."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.train.config import OptimConfig
from semimix.train.optim import DecoupledDecay, make_optimizer


def _model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        model[0].weight.fill_(2.0)
        model[0].bias.fill_(3.0)
    return model


def _step_without_loss(model: nn.Module, o: OptimConfig) -> None:
    """One optimiser step with zero loss gradients: only weight decay moves the parameters."""
    opt, decay = make_optimizer(model, o), DecoupledDecay(model, o)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    decay.step(o.lr)


def test_decoupled_decay_on_kernels_is_mixmatchs_update() -> None:
    # MixMatch's code: w ← w(1 − 0.02·lr) on kernels after each step; lr 0.1 → 2·(1 − 0.002) = 1.996
    model = _model()
    _step_without_loss(model, OptimConfig(name="adam", lr=0.1, weight_decay=0.02, decoupled_weight_decay=True, weight_decay_on="kernels"))
    assert model[0].weight.item() == pytest.approx(1.996, abs=1e-6)
    assert model[0].bias.item() == 3.0 and model[1].weight.item() == 1.0  # bias and BN scale untouched


def test_l2_decay_on_kernels_only_is_fixmatchs() -> None:
    # SGD without momentum, L2 0.5, lr 0.1: w ← w − 0.1·(0.5·w) = 2·0.95 = 1.9 on the kernel only
    model = _model()
    _step_without_loss(model, OptimConfig(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.5, weight_decay_on="kernels"))
    assert model[0].weight.item() == pytest.approx(1.9, abs=1e-6)
    assert model[0].bias.item() == 3.0 and model[1].weight.item() == 1.0


def test_l2_decay_on_all_parameters_is_the_default() -> None:
    model = _model()
    _step_without_loss(model, OptimConfig(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.5))
    assert model[0].weight.item() == pytest.approx(1.9, abs=1e-6)
    assert model[0].bias.item() == pytest.approx(2.85, abs=1e-6) and model[1].weight.item() == pytest.approx(0.95, abs=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"weight_decay_on": "biases"}, "weight_decay_on"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"name": "lbfgs"}, "optim.name must be one of sgd, adam; got 'lbfgs'"),
    ],
)
def test_bad_optimiser_settings_are_one_line_errors(change, message) -> None:
    with pytest.raises(SemimixError, match=message):
        make_optimizer(_model(), OptimConfig(**change))
