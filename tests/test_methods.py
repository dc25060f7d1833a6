"""Every method's loss on a tiny batch: finite named terms, each carrying gradient to the
student, none to the teacher; BN statistics touched only by the passes that should; the loss falls."""

from __future__ import annotations

import pytest
import torch

from semimix.errors import SemimixError
from semimix.methods import METHOD_NAMES, Batch, StepContext, build_method
from semimix.models import build_model
from semimix.ops import class_imbalance, frozen_batchnorm
from semimix.train.ema import ema_update, make_teacher

# Small ε and weights so every method's terms are of comparable size on 2-D inputs.
PARAMS = {
    "vat": {"epsilon": 0.5},
    "vat-entmin": {"epsilon": 0.5},
    "advmixup": {"epsilon": 0.5, "weight": 1.0},
    "adv-adv-mixup": {"epsilon": 0.5, "weight": 1.0},
    "advmixup-no-teacher": {"epsilon": 0.5, "weight": 1.0},
    "ict": {"weight": 1.0},
    "pseudo-label": {"threshold": 0.0},
    "untied-mixup": {"weight": 1.0},
    "dat": {"weight": 1.0},  # DAT's consistency has a floor: a mixed point gets opposite targets by pair order
    "mixmatch": {"weight": 1.0},  # λ_u = 75 is sized for CIFAR's 10-class MSE; 1 keeps the terms comparable here
    "fixmatch": {"threshold": 0.0},  # an untrained model is never 95% confident: let every pseudo-label count
    "uda": {"threshold": 0.0},  # nor 80% confident (FlexMatch needs none: its thresholds start at 0)
    "temporal-ensembling": {"weight": 1.0},
    # MSE on raw logits (the Manifold Mixup SSL code's) grows with the logits' scale, which nothing here
    # bounds (no weight decay): at weight 1 input mixup's term rises 0 → ~0.5 while its CE falls 0.70 → 0.11.
    "input-mixup": {"weight": 0.1},
    # 2-D inputs are not images, so no rotation term (tests/test_remixmatch.py has it on images); K = 2 as USB
    "remixmatch": {"rotation_weight": 0.0, "augmentations": 2},
}
# Methods whose unsupervised target comes from state filled by earlier steps: one step first.
STATEFUL = {"temporal-ensembling"}


def tiny_setup(method_name: str, seed: int = 0):
    torch.manual_seed(seed)
    method = build_method(method_name, PARAMS.get(method_name, {}))
    student = build_model("mlp", (2,), method.output_dim(3), widths=(16, 16), batchnorm=True)
    teacher = make_teacher(student) if method.needs_teacher else None
    batch = Batch(torch.randn(12, 2), torch.arange(12) % 3, torch.randn(24, 2), torch.arange(24))
    ctx = StepContext(
        student,
        teacher,
        num_classes=3,
        ramp=1.0,
        view=lambda x: x + 0.05 * torch.randn_like(x),
        strong_view=lambda x: x + 0.3 * torch.randn_like(x),
        num_unlabeled=24,
        lr=0.1,
    )
    if method_name in STATEFUL:
        method.losses(batch, ctx)
    return method, student, teacher, batch, ctx


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_every_term_is_finite_and_trains_the_student(name: str) -> None:
    method, student, teacher, batch, ctx = tiny_setup(name)
    terms = method.losses(batch, ctx)
    assert "supervised" in terms
    if method.unlabeled != "unused":
        assert len(terms) >= 2, f"{name} returned no unsupervised term"
    params = [p for p in student.parameters()]
    for term_name, term in terms.items():
        assert term.dim() == 0 and torch.isfinite(term), (name, term_name)
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        total = sum(g.abs().sum() for g in grads if g is not None)
        assert total > 0, f"{name}: term {term_name!r} carries no gradient to the student"
    if teacher is not None:
        assert all(not p.requires_grad for p in teacher.parameters())


# How many forward passes update BN running statistics per step: only passes that train the
# student on real or mixed inputs; target passes and VAT's perturbed passes never do.
BN_UPDATES = {
    "supervised": 1,
    "pi-model": 2,
    "temporal-ensembling": 2,  # the labeled pass and the unlabeled pass whose predictions enter the ensemble
    "mean-teacher": 1,  # one concatenated labeled + unlabeled pass
    "vat": 1,
    "vat-entmin": 1,
    "pseudo-label": 2,
    "ict": 2,
    "mixmatch": 1,  # the K guess passes are targets; one pass of the whole mixed labeled + unlabeled batch
    "remixmatch": 1,  # the mixed batch; the guess is a target, the pre-mixup (and rotation) passes use batch statistics only
    "fixmatch": 1,  # one concatenated labeled + weak + strong pass
    "uda": 1,
    "flexmatch": 1,
    "freematch": 1,
    "softmatch": 1,
    "input-mixup": 2,
    "manifold-mixup": 2,
    "advmixup": 2,
    "adv-adv-mixup": 2,
    "advmixup-no-teacher": 2,
    "untied-mixup": 2,
    "dat": 2,
    # the mixed (or labeled) pass and the unlabeled pass; the meta passes run with BN frozen
    "meta-gradient": 2,
    "meta-gradient-no-mixup": 2,
    "meta-gradient-mixup-only": 2,
    "meta-gradient-neither": 2,
}


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_batchnorm_statistics_follow_the_policy(name: str) -> None:
    method, student, teacher, batch, ctx = tiny_setup(name)
    bn = [m for m in student.modules() if isinstance(m, torch.nn.BatchNorm1d)][0]
    before = int(bn.num_batches_tracked)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()} if teacher is not None else {}
    method.losses(batch, ctx)
    assert int(bn.num_batches_tracked) - before == BN_UPDATES[name]
    for key, value in teacher_before.items():
        assert torch.equal(teacher.state_dict()[key], value), f"{name} changed teacher state {key}"


class ForwardCounter:
    def __init__(self, model: torch.nn.Module) -> None:
        self.count = 0
        model.register_forward_hook(self._hook)

    def _hook(self, *_: object) -> None:
        self.count += 1


@pytest.mark.parametrize(
    "name, teacher_passes, student_passes",
    [
        # labeled CE + one power iteration + the mixed pass; the VAT target is the teacher pass it already has
        ("advmixup", 1, 3),
        ("adv-adv-mixup", 1, 3),
        ("advmixup-no-teacher", 0, 4),  # its one extra student pass is the target
        ("ict", 1, 2),
        ("vat", 0, 4),  # labeled, clean target, one power iteration, perturbed
        ("mean-teacher", 1, 1),
        ("untied-mixup", 1, 2),
        ("dat", 1, 2),
        ("fixmatch", 0, 1),  # labeled, weak and strong views in one forward
        ("uda", 0, 1),
        ("flexmatch", 0, 1),
        ("freematch", 0, 1),
        ("softmatch", 0, 1),
        ("mixmatch", 0, 2),  # one pass over the K concatenated views for the guess, one mixed pass
        ("remixmatch", 0, 3),  # the weak view's guess, the mixed batch, the first strong view unmixed
        ("temporal-ensembling", 0, 2),
    ],
)
def test_forward_pass_counts(name: str, teacher_passes: int, student_passes: int) -> None:
    method, student, teacher, batch, ctx = tiny_setup(name)
    s = ForwardCounter(student)
    t = ForwardCounter(teacher) if teacher is not None else None
    method.losses(batch, ctx)
    assert s.count == student_passes
    assert (t.count if t else 0) == teacher_passes


def test_advmixup_virtual_samples_lie_between_real_and_adversarial() -> None:
    """With α → 0 (λ ∈ {0, 1}) the virtual batch is the real or the adversarial batch; check the
    λ-mix geometry directly: the mixed input is λ·x_i + (1−λ)·x_adv_perm(i) with ‖x_adv − x‖ = ε."""
    method, student, teacher, batch, ctx = tiny_setup("advmixup")
    seen = {}

    def capture(module, inputs):
        seen.setdefault("inputs", []).append(inputs[0].detach().clone())

    student.register_forward_pre_hook(capture)
    torch.manual_seed(1)
    method.params.alpha = 0.0  # λ = 1 exactly: the virtual batch is the clean unlabeled batch
    method.losses(batch, StepContext(student, teacher, 3, ramp=1.0))
    virtual = [x for x in seen["inputs"] if len(x) == 24][-1]  # the last unlabeled-sized pass
    assert torch.allclose(virtual, batch.x_u)
    method.params.adversarial_both = True  # λ = 1 with Adv-Adv: the virtual batch is x + r_adv
    seen.clear()
    method.losses(batch, StepContext(student, teacher, 3, ramp=1.0))
    r = [x for x in seen["inputs"] if len(x) == 24][-1] - batch.x_u
    assert torch.allclose(r.norm(dim=1), torch.full((24,), 0.5), atol=1e-5)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_loss_decreases_on_a_small_problem(name: str) -> None:
    torch.manual_seed(0)
    method = build_method(name, PARAMS.get(name, {}))
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y_all = torch.arange(300) % 3
    x_all = centers[y_all] + 0.3 * torch.randn(300, 2)
    student = build_model("mlp", (2,), 3, widths=(32,))
    teacher = make_teacher(student) if method.needs_teacher else None
    opt = torch.optim.Adam(student.parameters(), lr=0.01)
    totals = []
    for step in range(150):
        idx_l = torch.randint(0, 30, (16,))
        idx_u = torch.randint(30, 300, (64,))
        batch = Batch(x_all[idx_l], y_all[idx_l], x_all[idx_u], idx_u)
        total = sum(method.losses(batch, StepContext(student, teacher, 3, step, 1.0, num_unlabeled=300, lr=0.01)).values())
        opt.zero_grad()
        total.backward()
        opt.step()
        if teacher is not None:
            ema_update(teacher, student, 0.9, step)
        totals.append(total.item())
    first, last = sum(totals[:15]) / 15, sum(totals[-15:]) / 15
    # mixup targets have an entropy floor, so ask for a clear fall rather than near-zero loss
    assert last < 0.75 * first, f"{name}: loss {first:.3f} -> {last:.3f}"


def test_vat_balance_term_is_the_weighted_class_imbalance_of_the_clean_predictions() -> None:
    """``balance_weight`` adds weight · ramp · (log C − H(mean prediction)) on the clean unlabeled
    pass, which updates no BN statistics; at 0 (VAT's own setting) there is no such term."""
    _method, student, _teacher, batch, ctx = tiny_setup("vat")
    ctx.view, ctx.ramp = (lambda x: x), 0.5
    assert "balance" not in build_method("vat", {"epsilon": 0.5}).losses(batch, ctx)
    bn = [m for m in student.modules() if isinstance(m, torch.nn.BatchNorm1d)][0]
    before = int(bn.num_batches_tracked)
    terms = build_method("vat", {"epsilon": 0.5, "balance_weight": 2.0}).losses(batch, ctx)
    assert int(bn.num_batches_tracked) - before == 1  # the labeled pass only
    with frozen_batchnorm(student):
        expected = 2.0 * 0.5 * class_imbalance(student(batch.x_u))
    assert terms["balance"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_unknown_method_and_parameter_errors() -> None:
    from semimix.errors import SemimixError

    with pytest.raises(SemimixError, match="valid methods: .*advmixup"):
        build_method("adv-mix")
    with pytest.raises(SemimixError, match="no parameter 'epsilonn'.*epsilon"):
        build_method("vat", {"epsilonn": 1.0})
    with pytest.raises(SemimixError, match="advmixup.epsilon must be a number > 0; got 0.0"):
        build_method("advmixup", {"epsilon": 0.0})
    with pytest.raises(SemimixError, match="must be a float"):
        build_method("ict", {"alpha": "big"})
    assert build_method("mixup").name == "input-mixup"


def test_manifold_mixup_supervised_alpha_zero_is_plain_cross_entropy() -> None:
    """The paper's SSL runs mix labeled and unlabeled batches with different α; 0 turns the labeled mixup off."""
    _, student, _, batch, ctx = tiny_setup("manifold-mixup")
    method = build_method("manifold-mixup", {"supervised_alpha": 0.0, "alpha": 2.0})
    ctx.view = lambda x: x  # no noise: the term must equal CE on the labeled batch exactly
    expected = torch.nn.functional.cross_entropy(student(batch.x_l), batch.y_l)
    assert method.losses(batch, ctx)["supervised"].item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("bad", [-0.5, "0.1", True])
def test_manifold_mixup_rejects_a_bad_supervised_alpha(bad) -> None:
    with pytest.raises(SemimixError, match="supervised_alpha must be a number >= 0"):
        build_method("manifold-mixup", {"supervised_alpha": bad})
