"""Untied MixUp and DAT (the DAT paper): the U(B(α, β)) policy against its formulas, U(B(α+1, α)) =
mixup, Lemma 5 (equal expected losses on symmetric pair samples), the negative-cosine loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import betainc

from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.models import build_model
from semimix.ops import (
    class_embedding,
    cosine_scores,
    gamma_function,
    mix,
    negative_cosine,
    one_hot,
    pair_permutation,
    sample_lambda,
    sample_untied,
    untied_density,
    untied_gamma,
)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# ----------------------------------------------------------------------------- the policy
def test_untied_lambda_density_and_gamma_match_the_formulas() -> None:
    a, b, n = 2.2, 0.9, 200_000  # the paper's CIFAR-10 CE policy U(B(2.2, 0.9))
    lam, gamma = sample_untied(a, b, (n,))
    lam64 = lam.double().numpy()
    # bin probabilities of (p(λ) + p(1−λ))/2: ½[F(hi) − F(lo) + F(1−lo) − F(1−hi)]
    edges = np.linspace(0, 1, 21)
    cdf = stats.beta(a, b).cdf
    expected = 0.5 * (cdf(edges[1:]) - cdf(edges[:-1]) + cdf(1 - edges[:-1]) - cdf(1 - edges[1:]))
    observed, _ = np.histogram(lam64, edges)
    assert stats.chisquare(observed, n * expected / expected.sum()).pvalue > 1e-3
    # γ = p(λ)/(p(λ)+p(1−λ)) with scipy's pdf, at every drawn λ away from the ends
    inner = (lam64 > 1e-4) & (lam64 < 1 - 1e-4)
    p, q = stats.beta(a, b).pdf(lam64[inner]), stats.beta(a, b).pdf(1 - lam64[inner])
    np.testing.assert_allclose(gamma.double().numpy()[inner], p / (p + q), rtol=1e-4, atol=1e-6)


def test_gamma_at_hand_computed_points() -> None:
    # Beta(3, 1): p(λ) = 3λ², so γ(¼) = (1/16)/(1/16 + 9/16) = 0.1, γ(½) = ½, γ(¾) = 0.9
    lam = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    torch.testing.assert_close(untied_gamma(lam, 3.0, 1.0), torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    # (p(¼) + p(¾))/2 = (3/16 + 27/16)/2 = 15/16
    torch.testing.assert_close(untied_density(torch.tensor([0.25], dtype=torch.float64), 3.0, 1.0), torch.tensor([15 / 16], dtype=torch.float64))
    assert torch.equal(untied_gamma(lam, 2.0, 2.0), torch.full((3,), 0.5, dtype=torch.float64))  # symmetric p
    # the ends stay finite: Beta(0.5, 2) puts infinite density at 0, so γ(0) = 1 and γ(1) = 0
    assert torch.equal(untied_gamma(torch.tensor([0.0, 1.0]), 0.5, 2.0), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize("alpha", [0.4, 1.0, 2.5])
def test_untied_beta_alpha_plus_one_alpha_is_mixup(alpha: float) -> None:
    lam = torch.linspace(0.01, 0.99, 99, dtype=torch.float64)
    torch.testing.assert_close(untied_gamma(lam, alpha + 1, alpha), lam, rtol=0, atol=1e-12)
    torch.testing.assert_close(untied_density(lam, alpha + 1, alpha), torch.from_numpy(stats.beta(alpha, alpha).pdf(lam.numpy())))
    drawn, gamma = sample_untied(alpha + 1, alpha, (20_000,))
    assert stats.kstest(drawn.numpy(), stats.beta(alpha, alpha).cdf).pvalue > 1e-3
    torch.testing.assert_close(gamma, drawn, rtol=0, atol=1e-6)


def test_gamma_presets() -> None:
    lam = torch.rand(1000)
    assert torch.equal(gamma_function("mixup")(lam), lam)
    assert torch.equal(gamma_function("first")(lam), torch.ones(1000))
    cdf = gamma_function("beta-cdf:2,3")(lam.double())
    np.testing.assert_allclose(cdf.numpy(), betainc(2.0, 3.0, lam.double().numpy()), atol=1e-6)
    my = lambda t: t.pow(2)  # noqa: E731
    assert gamma_function(my) is my
    for bad in ("beta-cdf:2", "beta-cdf:0,1", "tied", 3):
        with pytest.raises(SemimixError, match="gamma"):
            gamma_function(bad)


def test_dat_draws_beta_lambdas_and_keeps_the_first_label() -> None:
    dat = build_method("dat", {"alpha": 2.0, "beta": 1.0})
    lam, gamma = dat.draw(20_000, torch.device("cpu"))
    assert stats.kstest(lam.numpy(), stats.beta(2.0, 1.0).cdf).pvalue > 1e-3
    assert torch.equal(gamma, torch.ones(20_000))
    lam, gamma = build_method("untied-mixup", {"per_sample_lambda": False}).draw(50, torch.device("cpu"))
    assert lam.shape == () and gamma.shape == ()  # one λ per batch


# ----------------------------------------------------------------------------- Lemma 5
def _fixed_model(out_dim: int) -> torch.nn.Module:
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, out_dim)).double()


def _symmetric_pairs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs (x_k, x'_k) in which every (a, b) occurs as often as (b, a)."""
    torch.manual_seed(4)
    x, y = torch.randn(6, 2, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    i, j = torch.tensor([0, 1, 2, 3, 0, 5]), torch.tensor([1, 2, 5, 4, 3, 0])
    return torch.cat([x[i], x[j]]), torch.cat([y[i], y[j]]), torch.cat([x[j], x[i]]), torch.cat([y[j], y[i]])


@pytest.mark.parametrize("loss", ["ce", "nc"])
@pytest.mark.parametrize("gamma", [None, "beta-cdf:2,3"])
def test_lemma5_untied_mixup_and_dat_expected_losses_agree(loss: str, gamma: str | None) -> None:
    """E_{λ~P}[ℓ(F(λx+(1−λ)x'), γy+(1−γ)y')] = E_{λ~Du(P,γ)}[ℓ(F(λx+(1−λ)x'), y)] on a symmetric
    pair sample, with Du(P,γ)(λ) = γ(λ)P(λ) + (1−γ(1−λ))P(1−λ); both by Gauss–Legendre quadrature."""
    a, b = 2.0, 1.5
    method = build_method("untied-mixup", {"alpha": a, "beta": b, "gamma": gamma, "loss": loss, "nc_dim": 8})
    model = _fixed_model(method.output_dim(3))
    x, y, x2, y2 = _symmetric_pairs()
    t, t2 = one_hot(y, 3, torch.float64), one_hot(y2, 3, torch.float64)
    nodes, weights = np.polynomial.legendre.leggauss(400)
    lam = torch.from_numpy((nodes + 1) / 2)
    dlam = torch.from_numpy(weights / 2)
    if gamma is None:  # the policy U(B(a, b)): λ density (p(λ)+p(1−λ))/2, γ its own
        policy, g = untied_density(lam, a, b), untied_gamma(lam, a, b)
        g_flip = untied_gamma(1 - lam, a, b)
        policy_flip = policy
    else:  # λ ~ Beta(a, b), γ = Beta(2, 3) CDF
        policy, policy_flip = (torch.from_numpy(stats.beta(a, b).pdf(v.numpy())) for v in (lam, 1 - lam))
        g, g_flip = (torch.from_numpy(betainc(2.0, 3.0, v.numpy())) for v in (lam, 1 - lam))
    dat_density = g * policy + (1 - g_flip) * policy_flip
    if gamma is None:  # Lemma 4: Du(U(p)) = p, so U(B(a, b)) corresponds to DAT with Beta(a, b)
        torch.testing.assert_close(dat_density, torch.from_numpy(stats.beta(a, b).pdf(lam.numpy())))
    with torch.no_grad():
        untied = sum(w * p * method.target_loss(model(mix(x, x2, lk)), mix(t, t2, gl)) for lk, w, p, gl in zip(lam, dlam, policy, g))
        dat = sum(w * p * method.target_loss(model(mix(x, x2, lk)), t) for lk, w, p in zip(lam, dlam, dat_density))
    assert abs(float(dlam @ dat_density) - 1) < 1e-3  # Du(P, γ) is a density
    assert float(untied) == pytest.approx(float(dat), rel=1e-6, abs=1e-8)
    # and the sample must be symmetric: on one orientation only the two differ
    with torch.no_grad():
        one_way = sum(w * p * method.target_loss(model(mix(x[:6], x2[:6], lk)), t[:6]) for lk, w, p in zip(lam, dlam, dat_density))
        one_way_u = sum(w * p * method.target_loss(model(mix(x[:6], x2[:6], lk)), mix(t[:6], t2[:6], gl)) for lk, w, p, gl in zip(lam, dlam, policy, g))
    assert abs(float(one_way) - float(one_way_u)) > 1e-3


@pytest.mark.parametrize("loss", ["ce", "nc"])
def test_dat_and_untied_methods_agree_in_expected_loss_on_symmetric_pairs(loss: str) -> None:
    """Lemma 4 through the methods themselves: DAT with Beta(α, β) and Untied MixUp with U(B(α, β))
    on the same symmetric pair sample (given as independent pairing), expectations by Monte Carlo."""
    x, y, x2, y2 = _symmetric_pairs()
    reps = 20_000  # per-sample λ: 240k draws per method
    batch = Batch(x.repeat(reps, 1), y.repeat(reps))
    batch.x_l2, batch.y_l2 = x2.repeat(reps, 1), y2.repeat(reps)
    params = {"alpha": 2.2, "beta": 0.9, "pairing": "independent", "loss": loss, "nc_dim": 8}
    dat, untied = build_method("dat", params), build_method("untied-mixup", params)
    model = _fixed_model(untied.output_dim(3))
    ctx = StepContext(model, None, num_classes=3)
    one_way = Batch(x[:6].repeat(2 * reps, 1), y[:6].repeat(2 * reps))  # not symmetric
    one_way.x_l2, one_way.y_l2 = x2[:6].repeat(2 * reps, 1), y2[:6].repeat(2 * reps)
    torch.manual_seed(5)
    with torch.no_grad():
        l_dat, l_untied = dat.supervised(batch, ctx), untied.supervised(batch, ctx)
        gap_one_way = dat.supervised(one_way, ctx) - untied.supervised(one_way, ctx)
    # over 20 seeds the difference had sd 5e-4 (CE) / 3e-4 (NC); the one-way gap is 0.06 / 0.03
    assert float(l_dat) == pytest.approx(float(l_untied), abs=4e-3)
    assert abs(float(gap_one_way)) > 0.015


# ----------------------------------------------------------------------------- negative cosine
def test_negative_cosine_by_hand() -> None:
    v = torch.tensor([[3.0, 4.0]])  # v̂ = (0.6, 0.8)
    assert float(negative_cosine(v, torch.tensor([[1.0, 0.0]]))) == pytest.approx(-0.6)
    assert float(negative_cosine(v, torch.tensor([[0.25, 0.75]]))) == pytest.approx(-(0.15 + 0.6))
    e = class_embedding(5, 300, seed=1)
    assert e.shape == (5, 300) and torch.allclose(e.norm(dim=1), torch.ones(5))
    assert torch.equal(e, class_embedding(5, 300, seed=1)) and not torch.equal(e, class_embedding(5, 300, seed=2))
    out = torch.randn(50, 300)
    nearest = torch.cdist(out / out.norm(dim=1, keepdim=True), e).argmin(dim=1)
    assert torch.equal(cosine_scores(out, e).argmax(dim=1), nearest)


@pytest.mark.parametrize("name", ["untied-mixup", "supervised"])
def test_nc_method_loss_is_target_linear_and_scores_are_cosines(name: str) -> None:
    method = build_method(name, {"loss": "nc", "nc_dim": 4, "nc_seed": 7})
    assert method.output_dim(3) == 4 and build_method("dat").output_dim(3) == 3
    e = method.embedding(3, torch.device("cpu"))
    assert torch.equal(e, class_embedding(3, 4, seed=7))
    out = torch.randn(5, 4)
    t = torch.tensor([[0.3, 0.7, 0.0]]).expand(5, 3)
    by_hand = -(0.3 * (out / out.norm(dim=1, keepdim=True) @ e[0]) + 0.7 * (out / out.norm(dim=1, keepdim=True) @ e[1])).mean()
    torch.testing.assert_close(method.target_loss(out, t), by_hand)
    torch.testing.assert_close(method.class_scores(out, 3), torch.nn.functional.normalize(out, dim=1) @ e.t())
    with pytest.raises(SemimixError, match="nc_dim=4 outputs"):
        method.target_loss(torch.randn(5, 3), t)


@pytest.mark.parametrize("mixup_alpha", [0.0, 1.0])
def test_supervised_nc_term_is_the_negative_cosine_to_the_class_vectors(mixup_alpha: float) -> None:
    """baseline-NC: −mean cos(F(x_i), φ(y_i)); with input mixup, −mean ⟨F(x̃_i)/|F(x̃_i)|, λφ(y_i) + (1−λ)φ(y_perm(i))⟩."""
    method = build_method("supervised", {"loss": "nc", "nc_dim": 4, "mixup_alpha": mixup_alpha})
    student = build_model("mlp", (2,), 4, widths=(8,))
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(3)
    term = method.losses(Batch(x, y), StepContext(student, None, 3))["supervised"]
    e = method.embedding(3, torch.device("cpu"))
    if mixup_alpha == 0:
        by_hand = -torch.nn.functional.cosine_similarity(student(x), e[y]).mean()
    else:  # the same draws again: λ, then the partner permutation
        torch.manual_seed(3)
        lam, perm = sample_lambda(mixup_alpha), pair_permutation(6)
        mixed_x, mixed_target = lam * x + (1 - lam) * x[perm], lam * e[y] + (1 - lam) * e[y[perm]]
        # target-linear: the normalised output against the mixed vector itself (not its direction)
        by_hand = -(torch.nn.functional.normalize(student(mixed_x), dim=1) * mixed_target).sum(dim=1).mean()
    torch.testing.assert_close(term, by_hand)


# ----------------------------------------------------------------------------- training
def _blobs() -> tuple[torch.Tensor, torch.Tensor]:
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = torch.arange(300) % 3
    return centers[y] + 0.3 * torch.randn(300, 2), y


@pytest.mark.parametrize("name", ["untied-mixup", "dat", "supervised"])
@pytest.mark.parametrize("loss", ["ce", "nc"])
def test_supervised_loss_falls_and_predictions_are_right(name: str, loss: str) -> None:
    """The supervised method with loss nc is the paper's baseline-NC row."""
    policy = {} if name == "supervised" else {"alpha": 2.2, "beta": 0.9}
    method = build_method(name, {"loss": loss, "nc_dim": 16, **policy})
    x_all, y_all = _blobs()
    student = build_model("mlp", (2,), method.output_dim(3), widths=(32,))
    opt = torch.optim.Adam(student.parameters(), lr=0.01)
    totals = []
    for step in range(120):
        idx = torch.randint(0, 30, (16,))
        terms = method.losses(Batch(x_all[idx], y_all[idx]), StepContext(student, None, 3, step))
        assert set(terms) == {"supervised"}  # no unlabeled data: the paper's supervised regulariser
        opt.zero_grad()
        terms["supervised"].backward()
        opt.step()
        totals.append(terms["supervised"].item())
    first, last = sum(totals[:15]) / 15, sum(totals[-15:]) / 15
    assert last < first - 0.2, f"{name}/{loss}: {first:.3f} -> {last:.3f}"
    with torch.no_grad():
        accuracy = (method.class_scores(student(x_all), 3).argmax(dim=1) == y_all).float().mean()
    assert accuracy > 0.95


@pytest.mark.parametrize("name", ["untied-mixup", "dat"])
def test_nc_consistency_term_trains_the_student_only(name: str) -> None:
    from semimix.train.ema import make_teacher

    method = build_method(name, {"loss": "nc", "nc_dim": 8})
    student = build_model("mlp", (2,), 8, widths=(16,))
    teacher = make_teacher(student)
    batch = Batch(torch.randn(12, 2), torch.arange(12) % 3, torch.randn(24, 2), torch.arange(24))
    terms = method.losses(batch, StepContext(student, teacher, 3))
    assert set(terms) == {"supervised", "consistency"}
    for term in terms.values():
        grads = torch.autograd.grad(term, list(student.parameters()), retain_graph=True)
        assert torch.isfinite(term) and sum(g.abs().sum() for g in grads) > 0


def test_bad_parameters_are_clear_errors() -> None:
    for name in ("untied-mixup", "dat"):
        for params, message in [
            ({"alpha": 0.0}, "alpha must be a number > 0; got 0.0"),
            ({"beta": -1.0}, "beta must be a number > 0; got -1.0"),
            ({"loss": "mse"}, "loss must be one of"),
            ({"pairing": "shuffle"}, "pairing must be one of"),
            ({"nc_dim": 0}, "nc_dim must be an integer >= 1; got 0"),
            ({"divergence": "l1"}, "divergence must be one of"),
        ]:
            with pytest.raises(SemimixError, match=message):
                build_method(name, params)
    for params, message in [
        ({"loss": "mse"}, "supervised.loss must be one of ce, nc; got 'mse'"),
        ({"nc_dim": 0}, "nc_dim must be an integer >= 1; got 0"),
        ({"mixup_alpha": -1.0}, "mixup_alpha must be a number >= 0; got -1.0"),
    ]:
        with pytest.raises(SemimixError, match=message):
            build_method("supervised", params)
    with pytest.raises(SemimixError, match="beta-cdf:a,b"):
        build_method("untied-mixup", {"gamma": "beta-cdf:1"})
    with pytest.raises(SemimixError, match="no parameter 'gamma'"):
        build_method("dat", {"gamma": "mixup"})
    method = build_method("dat", {"pairing": "independent"})
    student = build_model("mlp", (2,), 3, widths=(8,))
    with pytest.raises(SemimixError, match="x_l2"):
        method.losses(Batch(torch.randn(4, 2), torch.arange(4) % 3), StepContext(student, None, 3))
