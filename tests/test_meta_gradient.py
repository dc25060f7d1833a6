"""Meta-gradient SSL: exact vs first-order meta-gradients, Theorem 1's descent, bit-exact restore
of θ with BN statistics and optimiser state untouched, the reference quirks, a falling loss."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.models import build_model
from semimix.ops import perturbed_parameters, relu_renormalise


def small(batchnorm: bool = False, seed: int = 0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = build_model("mlp", (4,), 3, widths=(8,), batchnorm=batchnorm).to(dtype)
    x_l, y_l = torch.randn(6, 4, dtype=dtype), torch.arange(6) % 3
    x_u = torch.randn(10, 4, dtype=dtype)
    return model, x_l, y_l, x_u, StepContext(model, None, num_classes=3, lr=0.1)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_first_order_meta_gradient_converges_to_the_exact_one(batchnorm: bool) -> None:
    model, x_l, y_l, x_u, ctx = small(batchnorm)
    exact = build_method("meta-gradient", {"algorithm": "exact"}).meta_gradient(x_l, y_l, x_u, ctx)
    errors = []
    for scale in (1e-1, 1e-2, 1e-3):
        fo = build_method("meta-gradient", {"epsilon_scale": scale}).meta_gradient(x_l, y_l, x_u, ctx)
        errors.append(((fo - exact).norm() / exact.norm()).item())
    assert exact.norm() > 0
    assert errors[0] > errors[1] > errors[2], errors  # central difference: error O(ε²)
    assert errors[2] < 1e-5, errors
    # the paper's ε = 0.01/‖g‖ is already accurate to ~1e-4 relative
    assert errors[1] < 1e-3, errors


@pytest.mark.parametrize("algorithm", ["exact", "first-order"])
def test_a_meta_step_lowers_the_labeled_loss(algorithm: str) -> None:
    """Theorem 1: a small SGD step on the consistency with the refined labels lowers G(θ)."""
    model, x_l, y_l, x_u, ctx = small()
    method = build_method("meta-gradient-no-mixup", {"algorithm": algorithm, "meta_lr": 50.0})
    params = list(model.parameters())

    def labeled_loss() -> float:
        with torch.no_grad():
            return F.cross_entropy(model(x_l), y_l).item()

    before = labeled_loss()
    consistency = method.losses(Batch(x_l, y_l, x_u), ctx)["consistency"]
    grads = torch.autograd.grad(consistency, params)
    assert sum(g.norm() for g in grads) > 0
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(1e-2 * g)
    assert labeled_loss() < before
    # ... and without the meta step the consistency has zero gradient (equality case of Theorem 1)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.add_(1e-2 * g)
    plain = build_method("meta-gradient-neither").losses(Batch(x_l, y_l, x_u), ctx)["consistency"]
    assert all(g.abs().max() < 1e-12 for g in torch.autograd.grad(plain, params))


def test_perturbation_restores_parameters_bit_for_bit_and_spares_bn_and_optimizer() -> None:
    model, x_l, y_l, x_u, ctx = small(batchnorm=True, dtype=torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    F.cross_entropy(model(x_l), y_l).backward()
    opt.step()  # fills the momentum buffers and leaves .grad set
    list(model.modules())[-1].eval()  # a submodule in its own mode must stay so
    modes = [m.training for m in model.modules()]
    params = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    state = copy.deepcopy(opt.state_dict())
    for algorithm in ("first-order", "exact"):
        y_hat = build_method("meta-gradient", {"algorithm": algorithm}).pseudo_labels(x_l, y_l, x_u, ctx)
        assert torch.isfinite(y_hat).all()
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params))
        assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
        assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
        assert [m.training for m in model.modules()] == modes
        after = opt.state_dict()
        assert all(torch.equal(after["state"][i]["momentum_buffer"], s["momentum_buffer"]) for i, s in state["state"].items())


def test_a_graph_built_before_a_perturbation_still_backpropagates() -> None:
    model, x_l, y_l, _, _ = small()
    loss = F.cross_entropy(model(x_l), y_l)
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    with perturbed_parameters(params, [torch.randn_like(p) for p in params], 0.37):
        assert not any(torch.equal(p, q) for p, q in zip(params, saved))
    assert all(torch.equal(p, q) for p, q in zip(params, saved))
    expected = torch.autograd.grad(F.cross_entropy(model(x_l), y_l), params)
    assert all(torch.equal(a, b) for a, b in zip(torch.autograd.grad(loss, params), expected))


def test_reference_quirks() -> None:
    model, x_l, y_l, x_u, ctx = small()
    quirky = build_method("meta-gradient", {"meta_lr_from_optimizer": True, "reference_divisor": True, "pseudo_label_projection": "none"})
    ctx.lr = None
    with pytest.raises(SemimixError, match="StepContext has no lr"):
        quirky.pseudo_labels(x_l, y_l, x_u, ctx)
    ctx.lr = 0.05  # what the trainer must provide for this quirk
    y_hat = quirky.pseudo_labels(x_l, y_l, x_u, ctx)
    # the reference: ŷ = ỹ − lr·(f₊ − f₋)/ε = ỹ − lr·2·J g; the paper's d = (2α/B^u)·J g
    paper = build_method("meta-gradient", {"pseudo_label_projection": "none"})
    d = paper.meta_gradient(x_l, y_l, x_u, ctx)  # at α = α_t = 0.05
    with torch.no_grad():
        y_tilde = torch.softmax(model.eval()(x_u), dim=-1)
    model.train()
    assert torch.allclose(y_hat, y_tilde - 0.05 * 2 * d * len(x_u) / (2 * 0.05), atol=1e-9)
    # the paper's step ŷ = ỹ − β d; rows still sum to one (softmax differences sum to zero)
    y_paper = paper.pseudo_labels(x_l, y_l, x_u, ctx)
    assert torch.allclose(y_paper, y_tilde - 128.0 * d, atol=1e-9)
    assert torch.allclose(y_paper.sum(-1), torch.ones(len(x_u), dtype=y_paper.dtype))
    r = relu_renormalise(torch.tensor([[0.5, -0.2, 0.7], [-1.0, -2.0, 0.0]]))
    assert torch.allclose(r[0], torch.tensor([0.5, 0.0, 0.7]) / 1.2) and torch.equal(r[1], torch.zeros(3))
    with pytest.raises(SemimixError, match="algorithm"):
        build_method("meta-gradient", {"algorithm": "second-order"})


def test_mixup_pairs_labeled_with_unlabeled_per_sample() -> None:
    model, x_l, y_l, x_u, ctx = small(dtype=torch.float32)
    seen = []
    model.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].detach().clone()) if m.training else None)
    torch.manual_seed(3)
    build_method("meta-gradient", {"meta": False}).losses(Batch(x_l, y_l, x_u), ctx)
    mixed = seen[0]  # the first train-mode pass; length max(B^l, B^u), labeled cycled
    il = torch.arange(10) % 6
    lam = (mixed - x_u) / (x_l[il] - x_u)  # per sample constant across features
    assert torch.allclose(lam, lam[:, :1].expand_as(lam), atol=1e-4)
    assert lam[:, 0].std() > 0  # one λ per sample


@pytest.mark.parametrize("params", [{}, {"algorithm": "exact"}, {"mixup": False}])
def test_loss_decreases_on_a_tiny_problem(params: dict) -> None:
    torch.manual_seed(0)
    method = build_method("meta-gradient", {"meta_lr": 20.0, **params})
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y_all = torch.arange(300) % 3
    x_all = centers[y_all] + 0.3 * torch.randn(300, 2)
    model = build_model("mlp", (2,), 3, widths=(32,))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    totals = []
    for step in range(120):
        idx_l, idx_u = torch.randint(0, 30, (32,)), torch.randint(30, 300, (32,))
        terms = method.losses(Batch(x_all[idx_l], y_all[idx_l], x_all[idx_u]), StepContext(model, None, 3, step, lr=0.1))
        total = sum(terms.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    first, last = sum(totals[:15]) / 15, sum(totals[-15:]) / 15
    assert last < 0.6 * first, (first, last)
    with torch.no_grad():
        assert (model(x_all[30:]).argmax(1) == y_all[30:]).float().mean() > 0.95


def test_preset_configures_every_variant() -> None:
    from semimix.api import load_config

    cfg = load_config("mnist1d")
    assert cfg.method == "meta-gradient" and cfg.threads == 1
    for name, values in cfg.method_params.items():
        build_method(name, values)
