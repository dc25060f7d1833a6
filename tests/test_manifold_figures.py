"""The Manifold Mixup figures study: interpolation-path NLL on models where the answer is known,
the hidden-state measures on hand-made points, the preset, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from semimix.api import load_config
from semimix.data import load_dataset
from semimix.models import build_model
from semimix.models.base import StagedNet
from semimix.studies.manifold_figures import (
    METHODS,
    Tail,
    bottleneck_layer,
    boundary_length,
    decode,
    encode,
    hidden_concentration,
    interpolation_nll,
    random_pairs,
    run_study,
)

LAMBDAS = np.linspace(0.0, 1.0, 11)


def _linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


class TwoStageLinear(StagedNet):
    """Two affine stages: affine maps keep convex combinations, so hidden paths equal input paths."""

    def __init__(self) -> None:
        super().__init__()
        self.stages.append(_linear([[2.0, -1.0], [0.5, 1.0]], [0.3, -0.2]))
        self.stages.append(_linear([[1.0, 0.0], [-1.0, 3.0]], [0.0, 0.5]))
        self.mixable_layers = (1,)


def _expected_linear_nll(w: np.ndarray, b: np.ndarray, x_a, x_b, y_a: int, y_b: int) -> np.ndarray:
    """By hand: logits = W x + b on the straight input path, CE against the mixed one-hot target."""
    out = []
    for lam in LAMBDAS:
        z = w @ (lam * x_a + (1 - lam) * x_b) + b
        log_p = z - np.log(np.exp(z).sum())
        target = lam * np.eye(2)[y_a] + (1 - lam) * np.eye(2)[y_b]
        out.append(-(target * log_p).sum())
    return np.array(out)


def test_linear_model_nll_along_an_input_path_is_exact() -> None:
    w, b = np.array([[1.5, -0.5], [-1.0, 2.0]]), np.array([0.1, -0.3])
    model = _linear(w.tolist(), b.tolist())
    x_a = torch.tensor([[1.0, 0.0], [0.2, -0.7]])
    x_b = torch.tensor([[0.0, 1.0], [-1.0, 0.4]])
    y_a, y_b = torch.tensor([0, 1]), torch.tensor([1, 1])
    nll = interpolation_nll(model, x_a, y_a, x_b, y_b, LAMBDAS, num_classes=2)
    assert nll.shape == (len(LAMBDAS), 2)
    for j in range(2):
        expected = _expected_linear_nll(w, b, x_a[j].double().numpy(), x_b[j].double().numpy(), int(y_a[j]), int(y_b[j]))
        assert nll[:, j] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # the path from (1, 0) labeled 0 to (0, 1) labeled 1 at λ = 0.5: x = (.5, .5), logits (.6, .2)
    z = np.array([0.6, 0.2])
    assert nll[5, 0] == pytest.approx(-0.5 * (z - np.log(np.exp(z).sum())).sum(), rel=1e-5)


def test_hidden_path_equals_input_path_for_an_affine_network() -> None:
    model = TwoStageLinear()
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(1))
    visible = interpolation_nll(model, x[:32], y[:32], x[32:], y[32:], LAMBDAS, 2, layer=0)
    hidden = interpolation_nll(model, x[:32], y[:32], x[32:], y[32:], LAMBDAS, 2, layer=1)
    assert hidden == pytest.approx(visible, rel=1e-5, abs=1e-6)


def test_paths_of_the_bottleneck_mlp_end_at_the_plain_nll() -> None:
    torch.manual_seed(0)
    model = build_model("bottleneck-mlp", (2,), 2)
    layer = bottleneck_layer(model)
    assert layer == model.bottleneck_layer and encode(model, torch.zeros(3, 2), layer).shape == (3, 2)
    x_a, x_b = torch.randn(20, 2), torch.randn(20, 2)
    y_a, y_b = torch.randint(0, 2, (20,)), torch.randint(0, 2, (20,))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(decode(model, encode(model, x_a, layer), layer), model(x_a), atol=1e-6)
        assert torch.allclose(Tail(model, layer)(model.bottleneck_states(x_a)), model(x_a), atol=1e-6)
        plain_a = nn.functional.cross_entropy(model(x_a), y_a, reduction="none").double().numpy()
        plain_b = nn.functional.cross_entropy(model(x_b), y_b, reduction="none").double().numpy()
        mid = 0.25 * model.bottleneck_states(x_a) + 0.75 * model.bottleneck_states(x_b)
        for stage in model.stages[layer:]:
            mid = stage(mid)
    for k in (0, layer):
        nll = interpolation_nll(model, x_a, y_a, x_b, y_b, [0.0, 0.25, 1.0], 2, layer=k)
        assert nll[0] == pytest.approx(plain_b, rel=1e-4, abs=1e-6)
        assert nll[2] == pytest.approx(plain_a, rel=1e-4, abs=1e-6)
    hidden = interpolation_nll(model, x_a, y_a, x_b, y_b, [0.25], 2, layer=layer)[0]
    target = 0.25 * nn.functional.one_hot(y_a, 2) + 0.75 * nn.functional.one_hot(y_b, 2)
    expected = -(target * torch.log_softmax(mid.double(), dim=1)).sum(dim=1).numpy()
    assert hidden == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_random_pairs_are_distinct_and_in_range() -> None:
    a, b = random_pairs(5, 500, np.random.default_rng(0))
    assert (a != b).all() and a.min() >= 0 and max(a.max(), b.max()) < 5
    assert len(set(zip(a.tolist(), b.tolist()))) == 20  # every ordered pair of 5 points turns up


def test_hidden_concentration_and_boundary_length_on_hand_made_points() -> None:
    h = np.array([[-1.0, 0.0], [1.0, 0.0], [10.0, -1.0], [10.0, 1.0]])
    stats = hidden_concentration(h, np.array([0, 0, 1, 1]))
    assert stats["between_means"] == pytest.approx(10.0)
    assert stats["within_between_ratio"] == pytest.approx(0.1)  # RMS radius 1 around each mean, means 10 apart
    assert [c["principal_share"] for c in stats["per_class"]] == pytest.approx([1.0, 1.0])  # each class on a line
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
    assert boundary_length([square, square[:2]]) == pytest.approx(5.0)
    assert boundary_length([]) == 0.0


def test_preset_is_the_supervised_fig1_setting() -> None:
    cfg = load_config("two-spirals")
    assert cfg.data.dataset == "two-spirals" and cfg.model == "bottleneck-mlp" and cfg.threads == 1
    assert cfg.method_params["input-mixup"]["alpha"] == 1.0  # Fig. 1's caption
    assert cfg.method_params["manifold-mixup"]["alpha"] == 2.0  # the paper's supervised Manifold Mixup α
    data = load_dataset(cfg.data, 0)
    assert (len(data.x_labeled), len(data.x_unlabeled)) == (1000, 0)  # every training point labeled
    assert np.array_equal(np.bincount(data.y_labeled.numpy()), [500, 500])


@pytest.mark.slow
def test_tiny_study_writes_figures_and_results(tmp_path) -> None:
    out = tmp_path / "mm"
    results = run_study(out, steps=20, seed=1, progress=False, resolution=60)
    for name in ("fig1.png", "fig2.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "results.json").read_text()) == results
    assert set(results["methods"]) == set(METHODS)
    assert results["steps"] == 20 and len(results["lambdas"]) == 21
    for method, r in results["methods"].items():
        assert (out / "runs" / method / "summary.json").exists()
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["test_nll"] > 0
        for space in ("input", "hidden"):
            curve = r["interpolation"][space]
            assert len(curve["mean"]) == len(curve["sem"]) == 21 and np.isfinite(curve["average"])
            assert set(curve) >= {"different_class", "same_class"}
            assert curve["mean"][0] == pytest.approx(r["interpolation"]["input" if space == "hidden" else "hidden"]["mean"][0], rel=1e-4)
        assert {"within_between_ratio", "grid_mean_confidence", "grid_low_confidence_fraction"} <= set(r["hidden"])
        assert {"mean_confidence", "off_data_mean_confidence"} <= set(r["uniform_x"])
    assert results["methods"]["input-mixup"]["params"]["alpha"] == 1.0
    rerun = run_study(out, steps=20, seed=1, progress=False, resolution=60)  # replaces its own runs
    assert rerun["methods"]["manifold-mixup"]["test_nll"] == pytest.approx(results["methods"]["manifold-mixup"]["test_nll"])
