"""Attacks on models whose gradient is known, black-box transfer, ε units, BatchNorm, the
gradient-masking check, and the ``attack`` command on tiny finished runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semimix.data.preprocess import Standardize
from semimix.errors import SemimixError
from semimix.eval.paths import path_study
from semimix.eval.robustness import ScoreModel, attack_errors, craft, error_rate, masking_check, perturbation_norms
from semimix.ops import fgm


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _linear(weight) -> nn.Linear:
    """f(x) = W x in float64, W as (classes, features)."""
    w = torch.as_tensor(weight, dtype=torch.float64)
    model = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w)
    return model.eval()


def _ce_per_sample(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


# ----------------------------------------------------------------------------- known gradients
@pytest.mark.parametrize("attack", ["fgm", "fgsm"])
def test_fast_gradient_is_exact_on_a_linear_model(attack: str) -> None:
    # CE(Wx, y) has input gradient Wᵀ(softmax(Wx) − e_y): FGM adds ε·g/‖g‖₂, FGSM ε·sign(g).
    w = torch.randn(3, 5, dtype=torch.float64)
    x = torch.randn(7, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (7,))
    eps = 0.7
    g = (torch.softmax(x @ w.T, dim=1) - F.one_hot(y, 3).double()) @ w
    step = g / g.norm(dim=1, keepdim=True) if attack == "fgm" else g.sign()
    x_adv = craft(_linear(w), x, y, attack=attack, epsilon=eps, batch_size=3)  # batches of 3, 3, 1
    assert torch.allclose(x_adv, x + eps * step, atol=1e-12)
    norms = perturbation_norms(x_adv, x, "l2" if attack == "fgm" else "linf")
    assert torch.allclose(norms, torch.full((7,), eps, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_its_ball_and_never_lowers_the_loss(norm: str, random_start: bool) -> None:
    # Two classes: the CE gradient of sample i is always along ±(w_other − w_y), so ascent never turns back.
    model = _linear([[1.0, -2.0, 0.5, 0.0], [-0.5, 1.0, 2.0, 1.0]])
    x = torch.randn(10, 4, dtype=torch.float64)
    y = torch.randint(0, 2, (10,))
    eps = 0.4
    x_adv = craft(model, x, y, attack="pgd", epsilon=eps, norm=norm, steps=8, random_start=random_start, batch_size=4)
    assert perturbation_norms(x_adv, x, norm).max().item() <= eps + 1e-9
    clean = _ce_per_sample(model, x, y)
    assert (_ce_per_sample(model, x_adv, y) >= clean - 1e-12).all()
    if not random_start:  # more steps of a fixed size never lower it either
        losses = [
            _ce_per_sample(model, craft(model, x, y, attack="pgd", epsilon=eps, norm=norm, steps=k, step_size=eps / 4, random_start=False), y)
            for k in range(1, 7)
        ]
        for before, after in zip(losses, losses[1:]):
            assert (after >= before - 1e-12).all()


def test_black_box_uses_only_the_source_gradient() -> None:
    # The source decides on x₁ only, the target on x₂ only: the source's FGM moves x₁ alone, so the
    # target's predictions do not change; the target's own (white-box) FGM moves x₂ and flips them.
    source = _linear([[1.0, 0.0], [-1.0, 0.0]])
    target_net = _linear([[0.0, 1.0], [0.0, -1.0]])
    calls = []

    class Watched(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = target_net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append((torch.is_grad_enabled(), x.requires_grad))
            return self.net(x)

    x = torch.randn(40, 2, dtype=torch.float64)
    y = target_net(x).argmax(dim=1).detach()  # the target is right on every clean sample
    eps = 10.0
    black = attack_errors(source, {"t": Watched()}, x, y, [eps], attack="fgm", batch_size=16)
    assert calls and not any(grad or req for grad, req in calls), "the target was run with gradients"
    x_src = fgm(source, x, y, eps)  # the perturbation from the source alone
    assert torch.equal((x_src - x)[:, 1], torch.zeros(40, dtype=torch.float64))
    assert black["errors"]["t"] == [error_rate(target_net, x_src, y)] == [0.0]
    assert black["clean_error"]["t"] == 0.0
    white = attack_errors(target_net, {"t": target_net}, x, y, [eps], attack="fgm")
    assert white["errors"]["t"] == [1.0]


@pytest.mark.parametrize("attack", ["fgm", "fgsm"])
def test_pixel_units_through_standardize_equal_input_units_over_sigma(attack: str) -> None:
    # One channel, x_in = (x − μ)/σ: an ε-step in raw units is an ε/σ-step in input units, same direction.
    mu, sigma = 3.0, 4.0
    prep = Standardize([mu], [sigma])
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).eval()
    x_raw = 10 * torch.randn(6, 1, 2, 2)
    y = torch.randint(0, 3, (6,))
    eps_pixel = 2.0
    adv_raw = craft(ScoreModel(net, preprocess=prep), x_raw, y, attack=attack, epsilon=eps_pixel)
    adv_in = craft(ScoreModel(net), prep(x_raw), y, attack=attack, epsilon=eps_pixel / sigma)
    assert torch.allclose(prep(adv_raw), adv_in, atol=1e-5)
    norm = "l2" if attack == "fgm" else "linf"
    assert torch.allclose(perturbation_norms(adv_raw, x_raw, norm), torch.full((6,), eps_pixel, dtype=torch.float64), atol=1e-4)


def _bn_model() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 4) * 2 + 1)
    return model


def test_attacks_run_in_eval_mode_and_leave_batchnorm_untouched() -> None:
    model = _bn_model()  # left in train mode, as a caller might
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(12, 4), torch.randint(0, 3, (12,))
    results = {a: craft(model, x, y, attack=a, epsilon=0.5, steps=3) for a in ("fgm", "fgsm", "pgd", "vat")}
    masking_check(model, x, y, steps=3)
    attack_errors(model, {"m": model}, x, y, [0.5], attack="fgm")
    path_study(model, x, y, pairs=5, epsilon=0.5, points=3)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items()), "BN buffers or weights changed"
    assert all(m.training for m in model.modules()), "the caller's train mode was not restored"
    assert all(p.grad is None for p in model.parameters())
    model.eval()  # the same attack on an eval-mode model gives the same inputs: eval mode was used
    assert torch.allclose(craft(model, x, y, attack="fgm", epsilon=0.5), results["fgm"], atol=1e-6)


# ----------------------------------------------------------------------------- gradient masking
class _Rounded(nn.Module):
    """Linear scores of round(x): piecewise constant, so every input gradient is exactly zero."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x))


def test_masking_check_flags_a_step_function_and_passes_a_linear_model() -> None:
    net = _linear(torch.randn(4, 6))
    x = 3 * torch.randn(60, 6, dtype=torch.float64)
    masked = _Rounded(net)
    y_masked = masked(x).argmax(dim=1)
    flagged = masking_check(masked, x, y_masked, steps=20)
    assert flagged["clean_accuracy"] == 1.0 and flagged["accuracy"] == 1.0
    assert flagged["possible_gradient_masking"] is True
    y = net(x).argmax(dim=1).detach()
    for norm in ("linf", "l2"):
        ok = masking_check(net, x, y, norm=norm, steps=20)
        assert ok["clean_accuracy"] == 1.0 and ok["accuracy"] <= 0.05
        assert ok["possible_gradient_masking"] is False


# ----------------------------------------------------------------------------- the command on tiny runs
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> dict[str, Path]:
    from semimix.api import load_config, train

    root = tmp_path_factory.mktemp("attack")
    runs = {}
    for name, method, seed in (("sup", "supervised", 0), ("ict", "ict", 0), ("other", "supervised", 1)):
        cfg = load_config("digits", method=method, steps=4, eval_every=4, unlabeled_batch_size=32, seed=seed, progress=False, out=str(root / name))
        train(cfg)
        runs[name] = root / name
    return runs


def _attack(*argv: str) -> int:
    from semimix.commands import attack

    parser = argparse.ArgumentParser()
    attack.add_parser(parser.add_subparsers(dest="command"))
    return attack.run(parser.parse_args(["attack", *argv]))


FAST = ("--masking-steps", "5", "--masking-samples", "40")


def test_attack_command_white_and_black_box(tiny_runs, tmp_path: Path, capsys) -> None:
    sup, ict = tiny_runs["sup"], tiny_runs["ict"]
    assert _attack(str(sup), str(ict), "--eps", "0.5,2", "--out", str(tmp_path), *FAST) == 0
    printed = capsys.readouterr().out
    assert "| run" in printed and "ε=0.5" in printed and "gradient" in printed
    white = json.loads((ict / "attack-fgm-white.json").read_text())
    assert white["setting"] == "white-box" and white["norm"] == "l2" and white["epsilons"] == [0.5, 2.0]
    assert len(white["errors"]) == 2 and white["source"] is None
    assert white["gradient_masking_check"]["steps"] == 5 and isinstance(white["possible_gradient_masking"], bool)
    assert (ict / "attack-fgm-white.png").stat().st_size > 0
    assert {"attack-fgm-white-table.md", "attack-fgm-white-table.json", "attack-fgm-white.png"} <= {p.name for p in tmp_path.iterdir()}

    assert _attack(str(ict), "--source", str(sup), "--eps", "2", *FAST) == 0
    black = json.loads((ict / "attack-fgm-black.json").read_text())
    assert black["setting"] == "black-box" and black["source"]["run_dir"] == str(sup)
    assert black["clean_error"] == white["clean_error"]

    assert _attack(str(ict), "--eps", "2", "--eps-units", "pixel", "--attack", "fgsm", "--masking-steps", "0") == 0
    pixel = json.loads((ict / "attack-fgsm-white-pixel.json").read_text())
    assert pixel["eps_units"] == "pixel" and pixel["gradient_masking_check"] is None
    assert "pixel units = the model's input units" in capsys.readouterr().out  # digits: normalised at load


def test_attack_command_refuses_a_source_on_other_data(tiny_runs) -> None:
    with pytest.raises(SemimixError, match="different test splits"):
        _attack(str(tiny_runs["ict"]), "--source", str(tiny_runs["other"]), "--eps", "1", *FAST)
    with pytest.raises(SemimixError, match="vat attack is defined in L2"):
        _attack(str(tiny_runs["ict"]), "--attack", "vat", "--norm", "linf")
