"""AdvMixup Fig. 3: errors along real–real and real–adversarial paths, their end points and ties."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from semimix.eval.paths import dominant_label_errors, lambda_grid, path_errors, path_study, sample_pairs
from semimix.eval.robustness import error_rate, perturbation_norms


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 4)).eval()


def _data(n: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 3), torch.randint(0, 4, (n,))


def test_dominant_label_and_ties() -> None:
    pred = torch.tensor([0, 1, 2, 0])
    y_i = torch.tensor([0, 0, 0, 0])
    y_j = torch.tensor([1, 1, 1, 0])
    assert dominant_label_errors(pred, y_i, y_j, 0.7).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert dominant_label_errors(pred, y_i, y_j, 0.3).tolist() == [1.0, 0.0, 1.0, 0.0]
    # λ = ½ between two classes: a random tie-break in expectation, half an error for either label,
    # a whole one for a third class; no tie when both labels agree
    assert dominant_label_errors(pred, y_i, y_j, 0.5).tolist() == [0.5, 0.5, 1.0, 0.0]


def test_path_end_points_are_the_clean_and_adversarial_errors() -> None:
    model, (x, y) = _model(), _data()
    x_i, y_i, x_j, y_j = x[:40], y[:40], x[40:], y[40:]
    x_j_adv = x_j + 0.8 * torch.randn_like(x_j)
    out = path_errors(model, x_i, y_i, x_j, y_j, x_j_adv, lambda_grid(11))
    assert out["lambdas"][0] == 0.0 and out["lambdas"][-1] == 1.0
    for key in ("real_real", "real_adversarial"):
        assert out[key]["error"][-1] == error_rate(model, x_i, y_i)  # λ = 1: x_i itself
    assert out["real_real"]["error"][0] == error_rate(model, x_j, y_j)
    assert out["real_adversarial"]["error"][0] == error_rate(model, x_j_adv, y_j)


def test_path_study_pairs_end_points_and_vat_norm() -> None:
    model, (x, y) = _model(), _data()
    eps = 1.5
    out = path_study(model, x, y, pairs=30, epsilon=eps, points=5, seed=3, return_samples=True)
    i, j = torch.tensor(out["pair_indices"]["i"]), torch.tensor(out["pair_indices"]["j"])
    assert (i != j).all()
    assert out["clean_error_x_i"] == error_rate(model, x[i], y[i]) == out["real_adversarial"]["error"][-1]
    assert out["adversarial_error_x_j"] == error_rate(model, out["x_j_adv"], y[j])
    assert torch.allclose(perturbation_norms(out["x_j_adv"], x[j], "l2"), torch.full((30,), eps, dtype=torch.float64), atol=1e-4)
    again = path_study(model, x, y, pairs=30, epsilon=eps, points=5, seed=3)
    assert again["real_adversarial"]["error"] == out["real_adversarial"]["error"]  # seeded
    json.dumps({k: v for k, v in again.items()})  # JSON-ready without return_samples


def test_sample_pairs_distinct_classes() -> None:
    y = torch.tensor([0, 0, 0, 1, 2])
    i, j = sample_pairs(y, 50, torch.Generator().manual_seed(0), distinct_classes=True)
    assert (y[i] != y[j]).all()
    with pytest.raises(ValueError):
        sample_pairs(torch.zeros(5, dtype=torch.long), 3, torch.Generator(), distinct_classes=True)


def test_paths_command(tmp_path: Path, capsys) -> None:
    from semimix.api import load_config, train
    from semimix.commands import paths

    run_dir = tmp_path / "run"
    train(load_config("digits", method="supervised", steps=4, eval_every=4, progress=False, out=str(run_dir)))
    parser = argparse.ArgumentParser()
    paths.add_parser(parser.add_subparsers(dest="command"))
    assert paths.run(parser.parse_args(["paths", str(run_dir), "--pairs", "40", "--points", "5"])) == 0
    result = json.loads((run_dir / "paths-test-best.json").read_text())
    assert result["lambdas"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert result["epsilon"] == 1.0 and "advmixup" in result["epsilon_from"]  # the digits preset's AdvMixup ε
    assert len(result["real_adversarial"]["error"]) == 5
    assert (run_dir / "paths-test-best.png").stat().st_size > 0
    assert "real–adversarial" in capsys.readouterr().out
