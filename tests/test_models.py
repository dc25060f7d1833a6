"""Models: shapes, the published Conv-Large parameter counts, the mixing hook, the registry and its errors."""

from __future__ import annotations

import copy

import pytest
import torch

from model_checks import assert_gradients_reach_stages_below_the_mix
from semimix.errors import SemimixError
from semimix.models import (
    MLP,
    MODEL_NAMES,
    ConvLarge,
    SmallCNN,
    StagedNet,
    build_model,
    count_parameters,
    describe_models,
    resolve_model_name,
)
from semimix.models.layers import GaussianNoise

BATCH = 4

# (name, input shape, params, hidden shape before each mixable layer without the batch axis)
CASES = [
    ("mlp", (2,), {}, [(2,), (100,), (50,)]),
    ("mlp", (1, 8, 8), dict(widths=(16, 8, 4), batchnorm=True, activation="lrelu"), [(1, 8, 8), (16,), (8,), (4,)]),
    ("cnn-small", (1, 8, 8), {"width": 4}, [(1, 8, 8), (4, 4, 4), (8, 2, 2)]),
    ("cnn-small", (3, 7, 5), {"width": 4}, [(3, 7, 5), (4, 3, 2), (8, 1, 1)]),
    ("convlarge", (3, 32, 32), {}, [(3, 32, 32), (128, 16, 16), (256, 8, 8)]),
    ("convlarge", (1, 28, 28), {"weight_norm": False, "bias": False}, [(1, 28, 28), (128, 14, 14), (256, 7, 7)]),
]
CASE_IDS = [f"{name}-{'x'.join(map(str, shape))}" for name, shape, _, _ in CASES]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _build(name: str, shape: tuple[int, ...], params: dict, num_classes: int = 3) -> StagedNet:
    return build_model(name, shape, num_classes, **params)


@pytest.mark.parametrize(("name", "shape", "params", "hidden"), CASES, ids=CASE_IDS)
def test_output_shape_and_mixable_layers(name: str, shape: tuple[int, ...], params: dict, hidden: list) -> None:
    model = _build(name, shape, params)
    assert model(torch.randn(BATCH, *shape)).shape == (BATCH, 3)
    assert model.mixable_layers == tuple(range(len(hidden)))
    assert set(model.mixable_layers) <= set(model.all_mixable_layers)


@pytest.mark.parametrize(("name", "shape", "params", "hidden"), CASES, ids=CASE_IDS)
def test_mix_called_once_on_expected_hidden_state(name: str, shape: tuple[int, ...], params: dict, hidden: list) -> None:
    model = _build(name, shape, params).eval()
    x = torch.randn(BATCH, *shape)
    with torch.no_grad():
        plain = model(x)
        for layer in model.mixable_layers:
            seen: list[torch.Size] = []

            def identity(h: torch.Tensor) -> torch.Tensor:
                seen.append(h.shape)  # noqa: B023  (called within this iteration)
                return h

            mixed = model(x, mix_layer=layer, mix=identity)
            assert seen == [(BATCH, *hidden[layer])], f"layer {layer}"
            torch.testing.assert_close(mixed, plain)


@pytest.mark.parametrize(("name", "shape", "params", "hidden"), CASES, ids=CASE_IDS)
def test_gradients_reach_parameters_before_the_mix_layer(name: str, shape: tuple[int, ...], params: dict, hidden: list) -> None:
    """Manifold Mixup trains the layers below the mixed one through the mixed state."""
    assert_gradients_reach_stages_below_the_mix(_build(name, shape, params), shape, BATCH)


def test_convlarge_parameter_counts() -> None:
    """The counts of ICT's CNN-13 (weight norm, conv bias) and VAT's Conv-Large (neither) on CIFAR-10."""
    assert count_parameters(ConvLarge((3, 32, 32), 10)) == 3_125_908
    assert count_parameters(ConvLarge((3, 32, 32), 10, weight_norm=False, bias=False)) == 3_121_802


def test_convlarge_variants() -> None:
    wn = ConvLarge((3, 32, 32), 10)
    weight_normed = [m for m in wn.modules() if hasattr(m, "parametrizations")]
    assert len(weight_normed) == 10  # nine convs and the FC
    dropped = ConvLarge((3, 32, 32), 10, weight_norm=False, bias=False, dropout=0.5, dropout2d=True)
    assert sum(isinstance(m, torch.nn.Dropout2d) for m in dropped.modules()) == 2
    assert not any(isinstance(m, torch.nn.Dropout2d) for m in ConvLarge((3, 32, 32), 10, dropout=0.5).modules())


def test_weight_norm_model_copies_like_an_ema_teacher() -> None:
    """Mean Teacher and ICT deep-copy the student; the copy must compute the same function."""
    student = ConvLarge((1, 12, 12), 4).eval()
    teacher = copy.deepcopy(student)
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), student(x))
    teacher.load_state_dict(student.state_dict())


def test_mlp_matches_the_two_circles_and_vat_architectures() -> None:
    circles = MLP((2,), 2)
    assert count_parameters(circles) == (2 * 100 + 100) + (100 * 50 + 50) + (50 * 2 + 2)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in circles.modules())
    vat = MLP((1, 28, 28), 10, widths=(1200, 1200), batchnorm=True)
    layer_types = [type(m) for m in vat.stages[1]]
    assert layer_types == [torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU]
    assert [type(m) for m in vat.stages[-1]] == [torch.nn.Linear]


def test_mlp_output_batchnorm_normalises_the_logits() -> None:
    """The VAT MNIST code's last BN feeds the softmax: in train mode each logit has batch mean 0, std 1."""
    model = MLP((1, 28, 28), 10, widths=(32,), batchnorm=True, output_batchnorm=True)
    assert [type(m) for m in model.stages[-1]] == [torch.nn.Linear, torch.nn.BatchNorm1d]
    logits = model.train()(torch.randn(64, 1, 28, 28) * 5 + 3).detach()
    assert logits.mean(dim=0).abs().max() < 1e-5
    assert logits.std(dim=0, unbiased=False).tolist() == pytest.approx([1.0] * 10, abs=1e-3)


def test_mlp_hidden_noise_perturbs_training_only() -> None:
    """VAT's TPAMI MNIST MLP adds N(0, 0.5²) after each hidden ReLU in training; evaluation stays deterministic."""
    model = MLP((4,), 3, widths=(256, 256), hidden_noise=0.5)
    assert [type(m) for m in model.stages[1]] == [torch.nn.Linear, torch.nn.ReLU, GaussianNoise]
    hidden = model.stages[1]
    with torch.no_grad():
        hidden[0].weight.zero_()
        hidden[0].bias.fill_(-1.0)  # every ReLU output is 0, so the stage output is the noise alone
        noise = hidden.train()(torch.randn(400, 256))
        assert noise.std().item() == pytest.approx(0.5, rel=0.02)
        assert noise.mean().abs().item() < 0.01
        x = torch.randn(8, 4)
        torch.testing.assert_close(model.eval()(x), model(x))
    with pytest.raises(SemimixError, match="hidden_noise must be a standard deviation >= 0"):
        MLP((4,), 3, hidden_noise=-0.1)


def test_mlp_lecun_normal_init_matches_the_vat_theano_code() -> None:
    """W ~ N(0, 1/fan_in), b = 0 for every layer (torch's default: U(±1/√fan_in), std 1/√(3·fan_in))."""
    torch.manual_seed(0)
    model = MLP((1, 28, 28), 10, widths=(1200, 300), batchnorm=True, init="lecun-normal")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [layer.in_features for layer in linears] == [784, 1200, 300]
    for layer in linears:
        assert layer.weight.std().item() == pytest.approx(layer.in_features**-0.5, rel=0.03)
        assert layer.bias.abs().max().item() == 0.0
    default = MLP((1, 28, 28), 10, widths=(1200, 300))
    first = next(m for m in default.modules() if isinstance(m, torch.nn.Linear))
    assert first.weight.std().item() == pytest.approx((3 * 784) ** -0.5, rel=0.03)
    with pytest.raises(SemimixError, match="unknown init 'xavier'; valid inits: default, lecun-normal"):
        MLP((4,), 3, init="xavier")


def test_mlp_without_hidden_layers_is_linear() -> None:
    model = MLP((3, 2), 4, widths=())
    assert model.mixable_layers == (0,)
    assert model(torch.randn(BATCH, 3, 2)).shape == (BATCH, 4)


def test_small_cnn_is_small() -> None:
    assert count_parameters(SmallCNN((1, 8, 8), 10)) < 200_000


def test_auto_selection() -> None:
    assert resolve_model_name("auto", (1, 8, 8)) == "cnn-small"
    assert resolve_model_name("auto", (64,)) == "mlp"
    assert resolve_model_name("auto", (8, 8)) == "mlp"
    assert isinstance(build_model("auto", (1, 8, 8), 10), SmallCNN)
    assert isinstance(build_model("auto", (2,), 2, widths=(5,)), MLP)
    assert isinstance(build_model(" ConvLarge ", (3, 32, 32), 10), ConvLarge)


def test_describe_models() -> None:
    rows = describe_models()
    assert [r["name"] for r in rows] == list(MODEL_NAMES)
    assert MODEL_NAMES[:3] == ("mlp", "cnn-small", "convlarge")  # the deeper nets: test_models_resnets.py
    for row in rows:
        assert {"name", "description", "reference_input_shape", "parameters"} <= set(row)
        assert row["description"] and row["parameters"] > 0
    assert rows[2]["reference_input_shape"] == (3, 32, 32)
    assert rows[2]["parameters"] == 3_125_908


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(SemimixError, match="unknown model 'resnet'") as info:
        build_model("resnet", (3, 32, 32), 10)
    assert all(name in str(info.value) for name in (*MODEL_NAMES, "auto"))


def test_unknown_parameter_names_key_and_valid_ones() -> None:
    with pytest.raises(SemimixError, match="unknown parameter.*widht.*'mlp'") as info:
        build_model("mlp", (2,), 2, widht=(3,))
    assert "widths" in str(info.value) and "dropout" in str(info.value)
    with pytest.raises(SemimixError, match="widths"):
        build_model("auto", (1, 8, 8), 10, widths=(3,))  # auto resolved to cnn-small, which has no widths


@pytest.mark.parametrize(
    ("name", "shape", "params", "message"),
    [
        ("convlarge", (784,), {}, r"\(C, H, W\)"),
        ("convlarge", (1, 8, 8), {}, "at least 12x12"),
        ("cnn-small", (28, 28), {}, r"\(C, H, W\)"),
        ("cnn-small", (1, 3, 8), {}, "at least 4x4"),
        ("cnn-small", (1, 8, 8), {"width": 0}, "width"),
        ("mlp", (2,), {"widths": (100, 0)}, "widths"),
        ("mlp", (2,), {"widths": 100}, "widths"),
        ("mlp", (2,), {"activation": "tanh"}, "activation.*relu, lrelu"),
        ("mlp", (2,), {"dropout": 1.0}, "dropout"),
        ("mlp", (0,), {}, "input_shape"),
        ("mlp", (), {}, "input_shape"),
    ],
)
def test_bad_configuration_is_a_semimix_error(name: str, shape: tuple, params: dict, message: str) -> None:
    with pytest.raises(SemimixError, match=message):
        build_model(name, shape, 10, **params)


def test_bad_num_classes_is_a_semimix_error() -> None:
    with pytest.raises(SemimixError, match="num_classes"):
        build_model("mlp", (2,), 0)
