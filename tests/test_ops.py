"""Ops: every building block against small hand-computed cases (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from semimix.errors import SemimixError
from semimix.ops import (
    DIVERGENCES,
    auxiliary_pass,
    class_imbalance,
    entropy,
    fast_gradient,
    fgm,
    fgsm,
    frozen_batchnorm,
    get_divergence,
    kl_divergence,
    l2_normalize,
    mix,
    one_hot,
    pair_permutation,
    pgd,
    reestimate_batchnorm,
    sample_lambda,
    sharpen,
    soft_cross_entropy,
    softmax_mse,
    vat_perturbation,
)

LN3 = math.log(3.0)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _linear(weight: list[list[float]] | torch.Tensor) -> nn.Linear:
    """f(x) = W x in float64 (no bias), W given as (classes, features)."""
    w = torch.as_tensor(weight, dtype=torch.float64)
    model = nn.Linear(w.shape[1], w.shape[0], bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w)
    return model


def _bn_model() -> nn.Module:
    """A small MLP with BatchNorm1d whose running stats are already away from their defaults."""
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 4) * 2 + 1)
    model.zero_grad(set_to_none=True)
    return model


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.detach().clone() for name, b in model.named_buffers()}


def _assert_buffers_equal(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = dict(model.named_buffers())
    assert set(after) == set(before)
    assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(after)
    for name, b in before.items():
        assert torch.equal(after[name], b), name  # bit-for-bit


def _assert_no_param_grads(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is None, name


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    return float(a @ b / (a.norm() * b.norm()))


# --------------------------------------------------------------------------- mixing


@pytest.mark.parametrize("alpha", [0.0, -1.0])
def test_sample_lambda_nonpositive_alpha_is_exactly_one(alpha: float) -> None:
    scalar = sample_lambda(alpha)
    assert scalar.shape == () and scalar.item() == 1.0
    vec = sample_lambda(alpha, 5)
    assert vec.shape == (5,) and torch.equal(vec, torch.ones(5))


def test_sample_lambda_shapes_and_range() -> None:
    assert sample_lambda(0.75).shape == ()
    lam = sample_lambda(0.75, 7)
    assert lam.shape == (7,)
    many = sample_lambda(0.3, 5000)
    assert bool(((many >= 0) & (many <= 1)).all())


def test_sample_lambda_beta_1_1_is_uniform_moments() -> None:
    # Beta(1,1) = U(0,1): mean 1/2, var 1/12. With n = 20000 draws the standard error of the
    # mean is sqrt(1/12/n) ≈ 0.002 and of the variance ≈ sqrt(1/180/n) ≈ 0.0005, so 0.01 / 0.004
    # are > 5 standard errors.
    lam = sample_lambda(1.0, 20000)
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 1.0 / 12.0) < 0.004
    # scalar draws follow the same law
    scalars = torch.stack([sample_lambda(1.0) for _ in range(2000)])
    assert abs(scalars.mean().item() - 0.5) < 0.03


def test_sample_lambda_small_alpha_is_bimodal() -> None:
    # Beta(0.1,0.1): B(0.1,0.1) = Γ(0.1)²/Γ(0.2) ≈ 9.514²/4.591 ≈ 19.7 and
    # ∫_{0.1}^{0.9} x^-0.9 (1-x)^-0.9 dx ≈ 2·1.4·(10·(0.5^0.1 − 0.1^0.1)) ≈ 3.9, so only ≈ 20% of the
    # mass lies in (0.1, 0.9), against 80% for U(0,1). Var = 1/(4(2α+1)) = 1/4.8 ≈ 0.208.
    lam = sample_lambda(0.1, 20000)
    middle = ((lam > 0.1) & (lam < 0.9)).float().mean().item()
    assert middle < 0.3
    assert abs(lam.var().item() - 1.0 / 4.8) < 0.01
    assert abs(lam.mean().item() - 0.5) < 0.02  # symmetric


def test_pair_permutation_is_a_permutation() -> None:
    for n in (1, 2, 17):
        perm = pair_permutation(n)
        assert perm.shape == (n,) and perm.dtype == torch.long
        assert torch.equal(perm.sort().values, torch.arange(n))


def test_mix_scalar_numeric_case() -> None:
    # 0.25·[1, 2] + 0.75·[5, 10] = [0.25 + 3.75, 0.5 + 7.5] = [4, 8]
    a = torch.tensor([[1.0, 2.0]])
    b = torch.tensor([[5.0, 10.0]])
    assert torch.allclose(mix(a, b, 0.25), torch.tensor([[4.0, 8.0]]))
    assert torch.allclose(mix(a, b, torch.tensor(0.25)), torch.tensor([[4.0, 8.0]]))
    assert torch.equal(mix(a, b, 1.0), a)
    assert torch.equal(mix(a, b, 0.0), b)


def test_mix_scalar_and_per_sample_broadcast_over_nchw() -> None:
    a = torch.ones(2, 3, 2, 2)
    b = torch.zeros(2, 3, 2, 2)
    # scalar λ = 0.3: every entry is 0.3·1 + 0.7·0 = 0.3
    out = mix(a, b, 0.3)
    assert out.shape == (2, 3, 2, 2)
    assert torch.allclose(out, torch.full_like(a, 0.3))
    # per-sample λ = [0.2, 0.9]: sample 0 is all 0.2, sample 1 all 0.9
    out = mix(a, b, torch.tensor([0.2, 0.9]))
    assert out.shape == (2, 3, 2, 2)
    assert torch.allclose(out[0], torch.full((3, 2, 2), 0.2))
    assert torch.allclose(out[1], torch.full((3, 2, 2), 0.9))
    # per-sample λ on a (N, C) target: [0.5·[1,0] + 0.5·[0,1], 0.25·[1,0] + 0.75·[0,1]]
    ya = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    yb = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert torch.allclose(mix(ya, yb, torch.tensor([0.5, 0.25])), torch.tensor([[0.5, 0.5], [0.25, 0.75]]))


def test_mix_gradients_flow_with_weights_lambda_and_one_minus_lambda() -> None:
    a = torch.randn(2, 3, 2, 2, requires_grad=True)
    b = torch.randn(2, 3, 2, 2, requires_grad=True)
    mix(a, b, 0.3).sum().backward()
    # ∂/∂a Σ(λa + (1−λ)b) = λ, ∂/∂b = 1 − λ
    assert torch.allclose(a.grad, torch.full_like(a, 0.3))
    assert torch.allclose(b.grad, torch.full_like(b, 0.7))

    a.grad = b.grad = None
    lam = torch.tensor([0.2, 0.9])
    mix(a, b, lam).sum().backward()
    assert torch.allclose(a.grad[0], torch.full((3, 2, 2), 0.2))
    assert torch.allclose(a.grad[1], torch.full((3, 2, 2), 0.9))
    assert torch.allclose(b.grad[0], torch.full((3, 2, 2), 0.8))
    assert torch.allclose(b.grad[1], torch.full((3, 2, 2), 0.1))


def test_one_hot() -> None:
    out = one_hot(torch.tensor([2, 0, 1]), 3)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert one_hot(torch.tensor([1]), 4, dtype=torch.float64).dtype == torch.float64


def test_sharpen_hand_values() -> None:
    # T = 0.5: p^2 / Σ p^2 = [0.36, 0.16] / 0.52 = [0.692308, 0.307692]
    out = sharpen(torch.tensor([[0.6, 0.4]]), 0.5)
    assert torch.allclose(out, torch.tensor([[0.36 / 0.52, 0.16 / 0.52]]), atol=1e-6)
    assert torch.allclose(out, torch.tensor([[0.6923077, 0.3076923]]), atol=1e-6)
    # T = 1 is the identity on a distribution
    p = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    assert torch.allclose(sharpen(p, 1.0), p, atol=1e-6)
    # T = 2: sqrt(p) renormalised: [sqrt .64, sqrt .36] = [0.8, 0.6] / 1.4 = [4/7, 3/7]
    assert torch.allclose(sharpen(torch.tensor([[0.64, 0.36]]), 2.0), torch.tensor([[4 / 7, 3 / 7]]), atol=1e-6)


def test_sharpen_small_temperature_is_nearly_one_hot() -> None:
    # T = 0.01: 0.6^100 / (0.6^100 + 0.4^100) = 1 / (1 + (2/3)^100) ≈ 1 − 2.5e-18
    out = sharpen(torch.tensor([[0.6, 0.4], [0.1, 0.9]]), 0.01)
    assert torch.allclose(out, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), atol=1e-6)
    assert torch.allclose(out.sum(-1), torch.ones(2))


@pytest.mark.parametrize("temperature", [0.0, -0.5])
def test_sharpen_nonpositive_temperature_raises(temperature: float) -> None:
    with pytest.raises(SemimixError, match="sharpen: temperature must be > 0"):
        sharpen(torch.tensor([[0.5, 0.5]]), temperature)


# --------------------------------------------------------------------------- losses


def test_soft_cross_entropy_hand_value() -> None:
    # logits [0, ln3] → softmax [1/4, 3/4]; t = [1/2, 1/2]:
    # −(½ ln ¼ + ½ ln ¾) = ½ ln(16/3) = 0.836988
    logits = torch.tensor([[0.0, LN3]], dtype=torch.float64)
    t = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    assert soft_cross_entropy(logits, t).item() == pytest.approx(0.5 * math.log(16 / 3), abs=1e-10)
    # batch mean: add a second row with logits [0,0], t = [1, 0] → −ln ½ = ln 2
    logits2 = torch.tensor([[0.0, LN3], [0.0, 0.0]], dtype=torch.float64)
    t2 = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)
    expected = (0.5 * math.log(16 / 3) + math.log(2)) / 2
    assert soft_cross_entropy(logits2, t2).item() == pytest.approx(expected, abs=1e-10)


def test_soft_cross_entropy_equals_cross_entropy_for_one_hot() -> None:
    logits = torch.randn(6, 5)
    labels = torch.tensor([0, 4, 2, 2, 1, 3])
    assert torch.allclose(soft_cross_entropy(logits, one_hot(labels, 5)), F.cross_entropy(logits, labels), atol=1e-6)


def test_softmax_mse_hand_value() -> None:
    # row 0: softmax [0, ln3] = [¼, ¾], t = [1, 0] → (−¾)² + (¾)² = 9/16 + 9/16 = 1.125
    # row 1: softmax [0, 0] = [½, ½], t = [½, ½] → 0
    # mean over batch × classes = 1.125 / 4 = 0.28125
    logits = torch.tensor([[0.0, LN3], [0.0, 0.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    assert softmax_mse(logits, t).item() == pytest.approx(0.28125, abs=1e-10)


def test_kl_divergence_hand_value_and_direction() -> None:
    # p = softmax [0, ln3] = [¼, ¾], t = [½, ½]
    # KL(t‖p) = ½ ln(½/¼) + ½ ln(½/¾) = ½ ln(4/3) = 0.143841
    # KL(p‖t) = ¼ ln(¼/½) + ¾ ln(¾/½) = −0.173287 + 0.304099 = 0.130812  (the other direction)
    logits = torch.tensor([[0.0, LN3]], dtype=torch.float64)
    t = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    value = kl_divergence(logits, t).item()
    assert value == pytest.approx(0.5 * math.log(4 / 3), abs=1e-10)
    reverse = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert abs(value - reverse) > 0.01
    # a target with a zero entry: 0·log 0 counts as 0 → KL([1,0] ‖ [¼,¾]) = ln 4
    assert kl_divergence(logits, torch.tensor([[1.0, 0.0]], dtype=torch.float64)).item() == pytest.approx(math.log(4), abs=1e-10)


def test_kl_divergence_zero_iff_equal() -> None:
    t = torch.tensor([[0.2, 0.3, 0.5], [0.7, 0.2, 0.1]], dtype=torch.float64)
    assert kl_divergence(torch.log(t), t).item() == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(torch.log(t) + 3.0, t).item() == pytest.approx(0.0, abs=1e-12)  # shift-invariant logits
    assert kl_divergence(torch.zeros(2, 3, dtype=torch.float64), t).item() > 1e-3


def test_entropy_hand_values() -> None:
    # uniform over C: −Σ (1/C) ln(1/C) = ln C
    for c in (2, 5, 10):
        assert entropy(torch.zeros(3, c, dtype=torch.float64)).item() == pytest.approx(math.log(c), abs=1e-10)
    # [¼, ¾]: ¼ ln 4 + ¾ ln(4/3) = 0.346574 + 0.215762 = 0.562335
    assert entropy(torch.tensor([[0.0, LN3]], dtype=torch.float64)).item() == pytest.approx(0.25 * math.log(4) + 0.75 * math.log(4 / 3), abs=1e-10)
    # nearly one-hot → ≈ 0 (finite, no NaN from 0·log 0)
    val = entropy(torch.tensor([[100.0, 0.0, 0.0]])).item()
    assert math.isfinite(val) and 0.0 <= val < 1e-6


def test_class_imbalance_hand_values() -> None:
    # predictions spread evenly over the batch: mean [½, ½] → ln 2 − ln 2 = 0, however confident each one is
    assert class_imbalance(torch.tensor([[0.0, LN3], [LN3, 0.0]], dtype=torch.float64)).item() == pytest.approx(0.0, abs=1e-12)
    # both [¼, ¾]: ln 2 − (¼ ln 4 + ¾ ln 4/3) = 0.693147 − 0.562335 = 0.130812
    both = torch.tensor([[0.0, LN3], [0.0, LN3]], dtype=torch.float64)
    assert class_imbalance(both).item() == pytest.approx(math.log(2) - 0.25 * math.log(4) - 0.75 * math.log(4 / 3), abs=1e-10)
    # every sample sure of class 0 of 5: → ln 5 (finite, no NaN from 0·log 0)
    assert class_imbalance(torch.tensor([[100.0, 0, 0, 0, 0]] * 3)).item() == pytest.approx(math.log(5), abs=1e-5)


def test_get_divergence() -> None:
    assert get_divergence("kl") is kl_divergence
    assert get_divergence("mse") is softmax_mse
    assert get_divergence("ce") is soft_cross_entropy
    assert set(DIVERGENCES) == {"kl", "mse", "ce", "mse-sum", "mse-logits"}
    with pytest.raises(SemimixError, match="unknown divergence 'wasserstein'; choose one of ce, kl, mse, mse-logits, mse-sum"):
        get_divergence("wasserstein")


def test_auxiliary_pass_refuses_an_unknown_mode() -> None:
    with pytest.raises(SemimixError, match="mode must be 'eval' .* or 'train' .*, got 'test'"):
        with auxiliary_pass(nn.Linear(2, 2), "test"):
            pass


# --------------------------------------------------------------------------- adversarial


def test_l2_normalize_nchw_per_sample() -> None:
    d = torch.zeros(3, 2, 2, 2)
    d[0, 0, 0, 0], d[0, 1, 1, 1] = 3.0, 4.0  # norm 5 → entries 0.6, 0.8
    d[1] = 2.0  # 8 entries of 2 → norm sqrt(32) → each 2/sqrt(32) = 1/(2√2)
    # d[2] stays zero
    out = l2_normalize(d)
    assert out.shape == d.shape
    assert out[0, 0, 0, 0].item() == pytest.approx(0.6) and out[0, 1, 1, 1].item() == pytest.approx(0.8)
    assert torch.allclose(out[1], torch.full((2, 2, 2), 1 / (2 * math.sqrt(2))))
    assert torch.isfinite(out).all()
    assert torch.equal(out[2], torch.zeros(2, 2, 2))
    norms = out.flatten(1).norm(dim=1)
    assert torch.allclose(norms[:2], torch.ones(2), atol=1e-6)
    r = l2_normalize(torch.randn(4, 3, 5, 5))
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.ones(4), atol=1e-5)


def test_vat_perturbation_norm_is_epsilon_per_sample_nchw() -> None:
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    x = torch.randn(6, 2, 5, 5)
    with torch.no_grad():
        target = torch.softmax(model(x), dim=-1)
    r = vat_perturbation(model, x, target, epsilon=0.7, xi=1e-2, power_iterations=2)
    assert r.shape == x.shape
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((6,), 0.7), atol=1e-5)
    assert not r.requires_grad and r.grad_fn is None


def test_vat_perturbation_two_class_linear_points_along_w() -> None:
    # f(x) = W x with rows w and −w: logits (w·x, −w·x), so p₁ = σ(2 w·x) and the KL to any target
    # depends on x only through w·x. Its gradient w.r.t. d is (∂KL/∂(w·d)) · w, i.e. ∝ ±w, so the
    # power iteration lands on ±w. x is a bit away from 0 (target not exactly uniform).
    w = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64)
    model = _linear(torch.stack([w, -w]))
    x = 0.1 * torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        target = torch.softmax(model(x), dim=-1)
    for divergence in (kl_divergence, softmax_mse):
        r = vat_perturbation(model, x, target, epsilon=2.0, xi=1e-1, power_iterations=5, divergence=divergence)
        for i in range(len(x)):
            assert abs(_cos(r[i], w)) > 0.99
        assert torch.allclose(r.norm(dim=1), torch.full((4,), 2.0, dtype=torch.float64))


def test_vat_perturbation_finds_top_right_singular_vector() -> None:
    # f(x) = W x, W = U diag(s) Vᵀ (C = 4 classes, D = 6 features, rank 3). At x = 0 the target is
    # uniform u = 1/C and the KL(u ‖ softmax(W(x+d))) Hessian in d is Wᵀ (diag(u) − u uᵀ) W
    # = (1/C) Wᵀ (I − 11ᵀ/C) W. U's columns are orthogonal to 1, so (I − 11ᵀ/C) U = U and the Hessian
    # is (1/C) V diag(s²) Vᵀ: its top eigenvector is v₁, with eigenvalue ratio (1/6)² = 1/36 to the next.
    # Power iteration: ∇_d KL at ξ·d̂ ≈ ξ H d̂ (ξ·s₁ = 0.06 keeps the logits in the quadratic regime).
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    u, _ = torch.linalg.qr(a - a.mean(dim=0, keepdim=True))  # orthonormal columns ⟂ 1
    v, _ = torch.linalg.qr(torch.randn(6, 3, generator=gen, dtype=torch.float64))
    s = torch.tensor([6.0, 1.0, 0.5], dtype=torch.float64)
    assert torch.allclose(u.sum(dim=0), torch.zeros(3, dtype=torch.float64), atol=1e-12)
    model = _linear(u @ torch.diag(s) @ v.T)
    x = torch.zeros(5, 6, dtype=torch.float64)
    target = torch.full((5, 4), 0.25, dtype=torch.float64)
    r = vat_perturbation(model, x, target, epsilon=1.0, xi=1e-2, power_iterations=5)
    for i in range(len(x)):
        assert abs(_cos(r[i], v[:, 0])) > 0.99
    # after 5 iterations the off-v₁ part has shrunk by ~(1/36)^5, so the alignment is essentially exact
    # (this also rules out a single iteration, whose |cos| from a random start can be far below 0.9999)
    assert min(abs(_cos(r[i], v[:, 0])) for i in range(len(x))) > 0.9999


def test_vat_perturbation_leaves_bn_buffers_and_param_grads_untouched() -> None:
    model = _bn_model()
    before = _buffers(model)
    x = torch.randn(10, 4)
    with torch.no_grad():
        target = torch.softmax(model(x), dim=-1)
    # that forward (no_grad, train mode) did update the buffers; re-snapshot after it
    before = _buffers(model)
    r = vat_perturbation(model, x, target, epsilon=1.0, xi=1e-6, power_iterations=3)
    _assert_buffers_equal(model, before)
    _assert_no_param_grads(model)
    assert model.training
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    assert not r.requires_grad
    assert torch.allclose(r.norm(dim=1), torch.ones(10), atol=1e-5)


def test_frozen_batchnorm_inside_uses_batch_stats_without_updating() -> None:
    bn = nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    bn.train()
    for _ in range(3):
        bn(torch.randn(8, 3) * 3 + 2)
    model = nn.Sequential(bn)
    before = _buffers(model)
    rm, rv = bn.running_mean.clone(), bn.running_var.clone()
    # hand batch: column 0 = [1, 3] → mean 2, biased var 1 → normalised [−1, 1]
    x = torch.tensor([[1.0, 0.0, 5.0], [3.0, 4.0, 5.0]])
    with frozen_batchnorm(model):
        assert not bn.track_running_stats
        y_train = bn(x)
        bn.eval()
        y_eval = bn(x)
        bn.train()
    for name, b in before.items():
        assert torch.equal(dict(model.named_buffers())[name], b), name
    eps = bn.eps
    # train mode: (x − batch mean)/sqrt(biased batch var + eps)·γ + β;
    # column 0: [−1, 1]·1 + 0; column 1: mean 2, var 4 → [−1, 1]·2 + 1 = [−1, 3]; column 2: var 0 → 0·0.5 − 1
    expected_train = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 3.0, -1.0]])
    expected_train[:, 0] *= 1 / math.sqrt(1 + eps)
    expected_train[:, 1] = torch.tensor([-1.0, 1.0]) * 2 / math.sqrt(1 + eps / 4) + 1.0
    assert torch.allclose(y_train, expected_train, atol=1e-5)
    # eval mode inside still normalises with the running stats
    expected_eval = (x - rm) / torch.sqrt(rv + eps) * bn.weight.detach() + bn.bias.detach()
    assert torch.allclose(y_eval, expected_eval, atol=1e-5)
    assert not torch.allclose(y_train, y_eval, atol=1e-3)


def test_reestimate_batchnorm_averages_the_given_batches_and_keeps_mode_and_momentum() -> None:
    bn = nn.BatchNorm1d(1, momentum=0.3)
    model = nn.Sequential(bn)
    bn(torch.randn(16, 1) * 5 + 7)  # stale statistics to be replaced
    model.eval()
    # batches [0, 2] and [4, 6]: means 1 and 5 → 3; unbiased variances 2 and 2 → 2
    reestimate_batchnorm(model, [torch.tensor([[0.0], [2.0]]), torch.tensor([[4.0], [6.0]])])
    assert torch.allclose(bn.running_mean, torch.tensor([3.0]))
    assert torch.allclose(bn.running_var, torch.tensor([2.0]))
    assert int(bn.num_batches_tracked) == 2
    assert bn.momentum == 0.3 and not model.training


def test_frozen_batchnorm_restores_and_buffers_update_afterwards() -> None:
    bn = nn.BatchNorm1d(2, momentum=0.1)
    tracked_off = nn.BatchNorm1d(2, track_running_stats=False)
    model = nn.Sequential(bn, tracked_off)
    with frozen_batchnorm(model):
        model(torch.randn(4, 2))
    assert bn.track_running_stats is True
    assert tracked_off.track_running_stats is False  # a layer that never tracked is left as it was
    assert int(bn.num_batches_tracked) == 0
    # after the context a train-mode forward updates again:
    # x columns [0, 2] and [4, 8]: means [1, 6], unbiased vars [2, 8]
    # running_mean = 0.9·0 + 0.1·[1, 6] = [0.1, 0.6]; running_var = 0.9·1 + 0.1·[2, 8] = [1.1, 1.7]
    bn(torch.tensor([[0.0, 4.0], [2.0, 8.0]]))
    assert torch.allclose(bn.running_mean, torch.tensor([0.1, 0.6]))
    assert torch.allclose(bn.running_var, torch.tensor([1.1, 1.7]))
    assert int(bn.num_batches_tracked) == 1


def test_frozen_batchnorm_restores_on_exception() -> None:
    bn = nn.BatchNorm1d(2)
    with pytest.raises(RuntimeError):
        with frozen_batchnorm(bn):
            raise RuntimeError("boom")
    assert bn.track_running_stats is True


# The FGSM/FGM hand case: W = [[1, 2], [−1, 0.5]], CE = batch mean over N = 2.
#   sample 0: x = [0, 0], y = 0 → p = [½, ½], p − e₀ = [−½, ½],
#             Wᵀ(p − e₀) = [1·(−½) + (−1)·½, 2·(−½) + 0.5·½] = [−1, −0.75]
#             sign → [−1, −1]; normalised → [−1, −0.75]/1.25 = [−0.8, −0.6]
#   sample 1: x = [1, 0], y = 1 → logits [1, −1], p = [σ(2), σ(−2)] = [0.880797, 0.119203],
#             p − e₁ = [0.880797, −0.880797], Wᵀ(p − e₁) = 0.880797·[1 + 1, 2 − 0.5] = 0.880797·[2, 1.5]
#             sign → [1, 1]; normalised → [0.8, 0.6]
# (the 1/N of the batch mean changes neither the sign nor the normalised direction)
W_HAND = [[1.0, 2.0], [-1.0, 0.5]]
X_HAND = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
Y_HAND = torch.tensor([0, 1])


def test_hand_gradient_matches_autograd() -> None:
    model = _linear(W_HAND)
    x = X_HAND.clone().requires_grad_(True)
    F.cross_entropy(model(x), Y_HAND).backward()
    s2 = 1 / (1 + math.exp(-2))
    expected = torch.tensor([[-1.0, -0.75], [2 * s2, 1.5 * s2]], dtype=torch.float64) / 2
    assert torch.allclose(x.grad, expected, atol=1e-12)


def test_fgsm_hand_case() -> None:
    model = _linear(W_HAND)
    eps = 0.1
    x_adv = fgsm(model, X_HAND, Y_HAND, eps)
    expected = X_HAND + eps * torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(x_adv, expected, atol=1e-12)
    assert torch.allclose((x_adv - X_HAND).abs().amax(dim=1), torch.full((2,), eps, dtype=torch.float64))
    assert not x_adv.requires_grad
    assert torch.equal(fast_gradient(model, X_HAND, Y_HAND, eps, norm="linf"), x_adv)
    _assert_no_param_grads(model)


def test_fgm_hand_case() -> None:
    model = _linear(W_HAND)
    eps = 0.5
    x_adv = fgm(model, X_HAND, Y_HAND, eps)
    expected = X_HAND + eps * torch.tensor([[-0.8, -0.6], [0.8, 0.6]], dtype=torch.float64)
    assert torch.allclose(x_adv, expected, atol=1e-12)
    assert torch.allclose((x_adv - X_HAND).norm(dim=1), torch.full((2,), eps, dtype=torch.float64))
    assert not x_adv.requires_grad
    _assert_no_param_grads(model)


def test_fgm_nchw_norm_and_direction() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    x = torch.randn(5, 2, 3, 3)
    y = torch.tensor([0, 1, 2, 3, 0])
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model(xr), y).backward()
    model.zero_grad(set_to_none=True)
    delta = fgm(model, x, y, 0.3) - x
    assert torch.allclose(delta.flatten(1).norm(dim=1), torch.full((5,), 0.3), atol=1e-5)
    for i in range(5):
        assert _cos(delta[i], xr.grad[i]) > 0.9999
    with pytest.raises(SemimixError, match="unknown attack norm 'l1'; choose one of l2, linf"):
        fast_gradient(model, x, y, 0.3, norm="l1")
    with pytest.raises(SemimixError, match="unknown attack norm 'l1'"):  # before its random start, which would take it for l2
        pgd(model, x, y, 0.3, norm="l1")


def _ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_stays_in_ball_and_increases_loss(norm: str, random_start: bool) -> None:
    model = _bn_model()
    model.zero_grad(set_to_none=True)
    x = torch.randn(12, 4)
    y = torch.randint(0, 3, (12,))
    before = _buffers(model)
    eps = 0.3
    x_adv = pgd(model, x, y, eps, steps=7, norm=norm, random_start=random_start)
    delta = x_adv - x
    if norm == "linf":
        assert delta.abs().max().item() <= eps + 1e-6
    else:
        assert delta.norm(dim=1).max().item() <= eps + 1e-5
    assert not x_adv.requires_grad
    _assert_buffers_equal(model, before)
    _assert_no_param_grads(model)
    model.eval()  # compare losses without touching the buffers
    assert _ce(model, x_adv, y) >= _ce(model, x, y)


def test_pgd_linear_reaches_at_least_fgsm_and_fgm_loss() -> None:
    # Two classes, f(x) = W x: CE_i = softplus((w_o − w_y)·x_i), whose input gradient always points
    # along ±(w_o − w_y) with a fixed sign pattern. So every L∞ step adds step·sign(g) with the same
    # sign; after Σ steps = 2.5ε the clamp leaves δ = ε·sign(g) (the FGSM point, the maximiser over
    # the box). Likewise every L2 step is along ĝ and the projection leaves δ = ε·ĝ (the FGM point).
    model = _linear([[1.0, -2.0, 0.5], [-0.5, 1.0, 2.0]])
    x = torch.randn(8, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (8,))
    eps = 0.25
    for attack, norm in ((fgsm, "linf"), (fgm, "l2")):
        x_pgd = pgd(model, x, y, eps, steps=20, norm=norm, random_start=False)
        x_fast = attack(model, x, y, eps)
        assert _ce(model, x_pgd, y) >= _ce(model, x_fast, y) - 1e-9
        assert torch.allclose(x_pgd, x_fast, atol=1e-9)
        assert _ce(model, x_pgd, y) > _ce(model, x, y)


def test_pgd_default_step_size_and_steps() -> None:
    # steps=1, no random start, default step 2.5ε: one step of 2.5ε·sign(g) clamped to ε = FGSM
    model = _linear(W_HAND)
    x_pgd = pgd(model, X_HAND, Y_HAND, 0.1, steps=1, random_start=False)
    assert torch.allclose(x_pgd, fgsm(model, X_HAND, Y_HAND, 0.1), atol=1e-12)
