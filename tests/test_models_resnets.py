"""The reference-paper networks: PreActResNet-18/34, WRN-28-2, the MNIST-1D CNN and the bottleneck MLP.

Shapes at every mixable layer, the published parameter counts, the mix hook, gradients through a
mixed hidden state, ``hidden_states`` and the registry. Wide nets run at small widths or batch 2.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from model_checks import assert_gradients_reach_stages_below_the_mix
from semimix.errors import SemimixError
from semimix.models import (
    MODEL_NAMES,
    BottleneckMLP,
    CNN1d,
    PreActResNet18,
    PreActResNet34,
    StagedNet,
    WideResNet,
    build_model,
    count_parameters,
    describe_models,
)
from semimix.models.preact_resnet import PreActBlock
from semimix.models.wide_resnet import WideBasic

BATCH = 2
NEW_MODELS = ("preact-resnet18", "preact-resnet34", "wrn-28-2", "cnn1d", "bottleneck-mlp")

# (name, input shape, params, mixable layers, hidden shape before each layer of all_mixable_layers)
CASES = [
    ("preact-resnet18", (3, 32, 32), {"width": 8}, (0, 1, 2), [(3, 32, 32), (8, 32, 32), (16, 16, 16), (32, 8, 8)]),
    ("preact-resnet18", (1, 28, 28), {}, (0, 1, 2), [(1, 28, 28), (64, 28, 28), (128, 14, 14), (256, 7, 7)]),
    (
        "preact-resnet34",
        (3, 16, 16),
        {"width": 4, "final_bn_relu": True},
        (0, 1, 2),
        [(3, 16, 16), (4, 16, 16), (8, 8, 8), (16, 4, 4)],
    ),
    ("wrn-28-2", (3, 32, 32), {}, (0, 1, 2), [(3, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8)]),
    ("wrn-28-2", (1, 12, 12), {"width": 1, "depth": 10}, (0, 1, 2), [(1, 12, 12), (16, 12, 12), (32, 6, 6), (64, 3, 3)]),
    ("cnn1d", (1, 40), {}, (0, 1, 2), [(1, 40), (25, 19), (25, 10)]),
    ("cnn1d", (40,), {"channels": 8}, (0, 1, 2), [(40,), (8, 19), (8, 10)]),
    ("bottleneck-mlp", (2,), {}, (4,), [(2,), (64,), (64,), (64,), (2,), (64,), (64,), (64,)]),
    (
        "bottleneck-mlp",
        (2,),
        {"width": 8, "depth": 1, "batchnorm": True, "dropout": 0.5},
        (2,),
        [(2,), (8,), (2,), (8,)],
    ),
]
CASE_IDS = [f"{name}-{'x'.join(map(str, shape))}-{i}" for i, (name, shape, _, _, _) in enumerate(CASES)]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _build(name: str, shape: tuple[int, ...], params: dict, num_classes: int = 3) -> StagedNet:
    return build_model(name, shape, num_classes, **params)


@pytest.mark.parametrize(("name", "shape", "params", "mixable", "hidden"), CASES, ids=CASE_IDS)
def test_output_shape_and_layers(name: str, shape: tuple, params: dict, mixable: tuple, hidden: list) -> None:
    model = _build(name, shape, params).eval()
    with torch.no_grad():
        assert model(torch.randn(BATCH, *shape)).shape == (BATCH, 3)
    assert model.mixable_layers == mixable
    assert model.all_mixable_layers == tuple(range(len(hidden)))


@pytest.mark.parametrize(("name", "shape", "params", "mixable", "hidden"), CASES, ids=CASE_IDS)
def test_mix_called_once_on_expected_hidden_state(name: str, shape: tuple, params: dict, mixable: tuple, hidden: list) -> None:
    """At every layer of ``all_mixable_layers``: one call on the expected state; identity mix = no mix."""
    model = _build(name, shape, params).eval()
    x = torch.randn(BATCH, *shape)
    with torch.no_grad():
        plain = model(x)
        states = model.hidden_states(x)
        assert [s.shape for s in states] == [(BATCH, *h) for h in hidden] + [(BATCH, 3)]
        torch.testing.assert_close(states[-1], plain)
        for layer in model.all_mixable_layers:
            seen: list[torch.Tensor] = []

            def identity(h: torch.Tensor) -> torch.Tensor:
                seen.append(h)  # noqa: B023  (called within this iteration)
                return h

            mixed = model(x, mix_layer=layer, mix=identity)
            assert len(seen) == 1 and seen[0].shape == (BATCH, *hidden[layer]), f"layer {layer}"
            torch.testing.assert_close(seen[0], states[layer])
            torch.testing.assert_close(mixed, plain)


@pytest.mark.parametrize(("name", "shape", "params", "mixable", "hidden"), CASES, ids=CASE_IDS)
def test_gradients_reach_the_stem_through_the_deepest_mixable_layer(name: str, shape: tuple, params: dict, mixable: tuple, hidden: list) -> None:
    assert_gradients_reach_stages_below_the_mix(_build(name, shape, params), shape, BATCH)


def test_parameter_counts() -> None:
    """WRN-28-2 as in the FixMatch/MixMatch papers; ConvBase as in the MNIST-1D notebook; the rest by arithmetic."""
    with torch.device("meta"):  # counts need no weights
        assert count_parameters(WideResNet((3, 32, 32), 10)) == 1_467_610
        assert count_parameters(WideResNet((3, 32, 32), 10, width=10)) == 36_479_194  # WRN-28-10
        assert count_parameters(PreActResNet18((3, 32, 32), 10)) == 11_171_146
        assert count_parameters(PreActResNet34((3, 32, 32), 10)) == 21_279_306
        assert count_parameters(PreActResNet18((3, 32, 32), 10, final_bn_relu=True)) == 11_171_146 + 2 * 512
        assert count_parameters(PreActResNet18((1, 28, 28), 10)) == 11_171_146 - 2 * 9 * 64
    assert count_parameters(CNN1d((1, 40), 10)) == 5_210
    w = 64
    hidden = 3 * (w + w) + 4 * (w * w + w)  # 2->w, bottleneck 2->w, and the w->w layers
    assert count_parameters(BottleneckMLP((2,), 2)) == hidden + (w * 2 + 2) + (w * 2 + 2)


def test_preact_resnet_has_no_final_bn_relu_by_default() -> None:
    """The Manifold Mixup code pools the last block's raw output; final_bn_relu=True adds BN + ReLU."""
    default = PreActResNet18((3, 32, 32), 10, width=4)
    assert isinstance(default.stages[3][1], PreActBlock) and isinstance(default.stages[3][2], nn.AdaptiveAvgPool2d)
    option = PreActResNet18((3, 32, 32), 10, width=4, final_bn_relu=True)
    assert [type(m) for m in option.stages[3][2:5]] == [nn.BatchNorm2d, nn.ReLU, nn.AdaptiveAvgPool2d]
    stem = default.stages[0][0]
    assert isinstance(stem, nn.Conv2d) and stem.kernel_size == (3, 3) and stem.stride == (1, 1) and stem.bias is None
    assert [len(s) for s in PreActResNet34((3, 32, 32), 10, width=2).stages] == [1 + 3, 4, 6, 3 + 3]


def test_wrn_follows_the_reference() -> None:
    model = WideResNet((3, 32, 32), 10)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.001 for m in bns)
    acts = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert acts and all(m.negative_slope == 0.1 for m in acts)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    units = [m for m in model.modules() if isinstance(m, WideBasic)]
    assert len(units) == 12 and [u.activate_before_residual for u in units] == [True] + [False] * 11
    assert [type(m) for m in model.stages[3]][:2] == [nn.BatchNorm2d, nn.LeakyReLU]  # final BN + lrelu
    # conv init N(0, sqrt(2 / (k^2 * out))); dense bias zero
    conv = units[-1].conv2
    std = math.sqrt(2 / (9 * conv.out_channels))
    assert abs(conv.weight.std().item() - std) < 0.05 * std
    assert torch.all(model.stages[3][-1].bias == 0)


def test_cnn1d_matches_mnist1d_convbase() -> None:
    model = CNN1d((1, 40), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [
        (25, 5, 2, 1),
        (25, 3, 2, 1),
        (25, 3, 2, 1),
    ]
    assert model.stages[2][-1].in_features == 125
    assert build_model("cnn1d", (1, 100), 10)(torch.randn(BATCH, 1, 100)).shape == (BATCH, 10)


def test_bottleneck_states_are_two_dimensional() -> None:
    model = BottleneckMLP((2,), 2).eval()
    x = torch.randn(5, 2)
    with torch.no_grad():
        h = model.bottleneck_states(x)
        assert h.shape == (5, 2)
        torch.testing.assert_close(h, model.hidden_states(x)[model.bottleneck_layer])
    assert model.bottleneck_layer == 4 and model.mixable_layers == (4,)
    bottleneck_stage = model.stages[model.bottleneck_layer - 1]
    assert [type(m) for m in bottleneck_stage] == [nn.Linear]  # linear: no activation, no dropout
    regularised = BottleneckMLP((2,), 2, batchnorm=True, dropout=0.5)
    assert [type(m) for m in regularised.stages[3]] == [nn.Linear, nn.BatchNorm1d]
    assert [type(m) for m in regularised.stages[4]] == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Dropout]


def test_describe_models_lists_the_new_models() -> None:
    rows = {r["name"]: r for r in describe_models()}
    assert set(NEW_MODELS) <= set(rows) == set(MODEL_NAMES)
    assert rows["wrn-28-2"]["parameters"] == 1_467_610
    assert rows["cnn1d"]["parameters"] == 5_210 and rows["cnn1d"]["reference_input_shape"] == (1, 40)
    assert rows["preact-resnet18"]["parameters"] == 11_171_146
    assert rows["preact-resnet34"]["reference_input_shape"] == (3, 32, 32)
    assert rows["bottleneck-mlp"]["reference_input_shape"] == (2,)


@pytest.mark.parametrize(
    ("name", "shape", "params", "message"),
    [
        ("preact-resnet18", (784,), {}, r"\(C, H, W\)"),
        ("preact-resnet18", (3, 32, 32), {"width": 0}, "width"),
        ("preact-resnet34", (3, 32, 32), {"final_bn_relu": "yes"}, "final_bn_relu"),
        ("preact-resnet18", (3, 32, 32), {"blocks": (2, 2)}, "unknown parameter.*final_bn_relu"),
        ("wrn-28-2", (3, 32, 32), {"depth": 27}, "6n \\+ 4"),
        ("wrn-28-2", (3, 32, 32), {"bn_momentum": 0.0}, "bn_momentum"),
        ("wrn-28-2", (1, 2, 2), {}, "at least 4x4"),
        ("cnn1d", (1, 28, 28), {}, r"\(C, L\)"),
        ("cnn1d", (1, 2), {}, "at least 3"),
        ("bottleneck-mlp", (2,), {"width": 0}, "width"),
        ("bottleneck-mlp", (2,), {"activation": "tanh"}, "activation"),
        ("bottleneck-mlp", (2,), {"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_configuration_is_a_semimix_error(name: str, shape: tuple, params: dict, message: str) -> None:
    with pytest.raises(SemimixError, match=message):
        build_model(name, shape, 10, **params)
