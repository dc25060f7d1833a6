"""Semi-supervised learning with meta-gradient (Zhang, Xiao et al., AISTATS 2021).

Pseudo-labels start as the model's predictions ỹ = f(x_u; θ) (eq. 2); one virtual SGD step on the
unlabeled loss Φ^MSE(f(x_u), ỹ) gives θ̃ = θ − α∇θ (eqs. 3–4); the labeled loss at θ̃ is the
meta-objective whose gradient d = ∇ỹ L_l(θ̃) (eq. 5) moves the pseudo-labels, ŷ = ỹ − βd (eq. 6).
The model then trains on the consistency Φ^MSE(f(x_u), ŷ) plus the classification loss.

* ``algorithm="exact"`` (Algorithm 1) differentiates through the virtual step (double backward,
  ``torch.func.functional_call`` at θ̃).
* ``algorithm="first-order"`` (Algorithm 2, the default): since ỹ = f(θ) the unlabeled gradient
  vanishes, θ̃ = θ, and d_i = (2α/B^u)·J_i g with g = ∇θ L_l(θ); J_i g is the central difference
  (f_i(θ+εg) − f_i(θ−εg))/(2ε), ε = 0.01/‖g‖₂ (eqs. 9–11; the 2 of Φ^MSE cancels the 2ε, giving
  eq. 11's α/(B^u ε)).
* ``mixup`` (eqs. 12–13): labeled sample i mixed with unlabeled sample i, per-sample λ_i ~
  Beta(γ, γ), target λ_i·y_i + (1−λ_i)·ŷ_i, Φ^KL; this classification loss replaces the plain
  labeled loss (so do Algorithm 2 and the reference code). Without mixup it is Φ^KL(f(x_l), y) = CE.
* ``meta=False`` keeps ŷ = ỹ: Table 4's rows without the meta component.

The virtual step α follows the scheduled learning rate α_t (Algorithms 1–2 and the reference code);
``virtual_lr`` fixes it. With β = 128 = B^u the step 2α_t·J g equals the reference code's.

Reference-code behaviours (``Sakura03/SemiMeta``), each a named option: ``pseudo_label_projection``
"relu" (relu, then renormalise rows: the default, since eq. (6) as written moves ŷ off the simplex
and diverged on digits and CIFAR-10; "none" is the paper's eq. (6)); off by default:
``reference_divisor`` (J g estimated as (f₊ − f₋)/ε instead of /2ε), ``meta_lr_from_optimizer``
(ŷ = ỹ − lr·(J g estimate): the step is the current SGD learning rate, no β and no 2α/B^u; needs
``ctx.lr``), ``add_labeled_loss`` (not the reference: also add plain CE when mixing). The meta passes run in ``eval`` mode as the
reference does (``meta_mode``), never update BN statistics, and restore θ bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call

from semimix.errors import SemimixError
from semimix.methods.base import BACKWARD, FORWARD, NO_GRAD, Batch, Method, MethodParams, Pass, StepContext, check, trained
from semimix.methods.common import require_unlabeled
from semimix.ops import mix, one_hot, sample_lambda
from semimix.ops.meta import auxiliary_pass, central_difference, global_norm, relu_renormalise, virtual_sgd_step
from semimix.validation import bounded, choice


@dataclass
class MetaGradientParams(MethodParams):
    weight: float = bounded(1.0, ge=0)  # consistency weight (eq. 13: 1; the reference: 1.0, ramped up)
    algorithm: str = choice("first-order", ("first-order", "exact"))  # first-order (Algorithm 2, finite difference) | exact (Algorithm 1, double backward)
    meta: bool = True  # Table 4 "Meta": refine pseudo-labels with the meta-gradient; False: ŷ = ỹ
    mixup: bool = True  # Table 4 "Mix-Up": cross-domain labeled × unlabeled mixup (eq. 12)
    gamma: float = 1.0  # λ_i ~ Beta(γ, γ); the paper/code: 1.0 CIFAR, 0.1 SVHN
    virtual_lr: float | None = bounded(None, gt=0)  # α of the virtual step (eq. 4); None: the scheduled lr α_t, as Algorithms 1–2 and the reference
    meta_lr: float = bounded(128.0, ge=0)  # β (eq. 6); 128 = the reference's step at lr = α = 0.1 and B^u = 128
    epsilon_scale: float = bounded(0.01, gt=0)  # ε = epsilon_scale / ‖∇θ L_l‖₂ (global norm)
    meta_mode: str = choice("eval", ("eval", "train"))  # module mode of the meta passes: eval (the reference) | train (batch statistics)
    reference_divisor: bool = False  # quirk: J g ≈ (f₊ − f₋)/ε rather than /(2ε)
    meta_lr_from_optimizer: bool = False  # quirk: ŷ = ỹ − lr·(J g estimate), lr = the optimiser's current lr
    pseudo_label_projection: str = choice("relu", ("relu", "none"))  # relu and renormalise rows (the code) | none (eq. 6 as written: diverges)
    add_labeled_loss: bool = False  # with mixup, also add CE on the labeled batch (neither paper nor code do)


class MetaGradient(Method[MetaGradientParams]):
    name = "meta-gradient"
    summary = "Meta-gradient SSL: pseudo-labels moved to lower the labeled loss after a virtual step (Zhang et al. 2021)"
    Params = MetaGradientParams

    def check_params(self) -> None:
        p = self.params
        check(p.gamma > 0 or not p.mixup, f"{self.name}: gamma must be > 0 with mixup, got {p.gamma}")
        check(
            not (p.reference_divisor and p.algorithm == "exact"),
            f"{self.name}: reference_divisor is a finite-difference option; it does not apply to algorithm 'exact'",
        )

    def passes(self, labeled: int, unlabeled: int) -> list[Pass]:
        """The meta step, then the training passes. First-order: ∇θ L_l (a forward and a backward of
        the labeled batch), ỹ and f(θ ± εg) (three no-grad passes). Exact: the unlabeled forward and
        its create-graph backward (eq. 3), the labeled forward at θ̃ and its backward (eq. 5), and the
        double backward through the virtual step, a Hessian-vector product counted as one more
        forward + backward of the unlabeled batch (Pearlmutter: about the cost of a gradient)."""
        p = self.params
        if not p.meta:
            meta = [(NO_GRAD, unlabeled)]
        elif p.algorithm == "exact":
            meta = [*trained(unlabeled), *trained(labeled), *trained(unlabeled)]
        else:
            meta = [(FORWARD, labeled), (BACKWARD, labeled), *[(NO_GRAD, unlabeled)] * 3]
        mixed = max(labeled, unlabeled)
        supervised = [*trained(mixed), *(trained(labeled) if p.add_labeled_loss else [])] if p.mixup else trained(labeled)
        return [*meta, *supervised, *trained(unlabeled)]

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        p = self.params
        x_u = ctx.view(require_unlabeled(batch, self.name))
        x_l = ctx.view(batch.x_l)
        y_hat = self.pseudo_labels(x_l, batch.y_l, x_u, ctx)
        if p.mixup:  # eq. (12): pair i with i (cycling the shorter batch), per-sample λ_i
            n = max(len(x_l), len(x_u))
            il, iu = torch.arange(n, device=x_u.device) % len(x_l), torch.arange(n, device=x_u.device) % len(x_u)
            lam = sample_lambda(p.gamma, n, device=x_u.device)
            target = mix(one_hot(batch.y_l[il], ctx.num_classes, x_u.dtype), y_hat[iu], lam)
            supervised = kl_to_target(ctx.student(mix(x_l[il], x_u[iu], lam)), target)
            if p.add_labeled_loss:
                supervised = supervised + F.cross_entropy(ctx.student(x_l), batch.y_l)
        else:
            supervised = F.cross_entropy(ctx.student(x_l), batch.y_l)  # Φ^KL with one-hot targets
        consistency = (torch.softmax(ctx.student(x_u), dim=-1) - y_hat).pow(2).sum(dim=-1).mean()  # Φ^MSE
        return {"supervised": supervised, "consistency": p.weight * ctx.ramp * consistency}

    # ----------------------------------------------------------------------------- the meta step
    def pseudo_labels(self, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """ŷ (detached): the model's predictions ỹ, moved by one meta-gradient step when ``meta``."""
        p = self.params
        model = ctx.student
        with auxiliary_pass(model, p.meta_mode):
            if not p.meta:
                with torch.no_grad():
                    return self._project(torch.softmax(model(x_u), dim=-1))
            if p.algorithm == "exact":
                y_tilde, jg = self._exact(x_l, y_l, x_u, ctx)
            else:
                y_tilde, jg = self._first_order(x_l, y_l, x_u, ctx)
        if p.meta_lr_from_optimizer:
            if ctx.lr is None:
                raise SemimixError(
                    f"{self.name}: meta_lr_from_optimizer needs the optimiser's current learning rate, "
                    "but this StepContext has no lr; pass it, or set meta_lr_from_optimizer: false (the paper's β = meta_lr)"
                )
            step = ctx.lr * jg  # the reference: ŷ = ỹ − lr·(f₊ − f₋)/ε
        else:
            step = p.meta_lr * (2 * self.virtual_lr(ctx) / len(x_u)) * jg  # eq. (6) with d = (2α/B^u)·J g
        return self._project((y_tilde - step).detach())

    def meta_gradient(self, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """d = ∇ỹ L_l(θ̃) of eq. (5): exact (Algorithm 1) or its first-order estimate (eq. 11)."""
        with auxiliary_pass(ctx.student, self.params.meta_mode):
            _, jg = (self._exact if self.params.algorithm == "exact" else self._first_order)(x_l, y_l, x_u, ctx)
        return (2 * self.virtual_lr(ctx) / len(x_u)) * jg

    def virtual_lr(self, ctx: StepContext) -> float:
        """α of eq. (4): fixed, or the optimiser's learning rate this step (α_t)."""
        if self.params.virtual_lr is not None:
            return float(self.params.virtual_lr)
        if ctx.lr is None:
            raise SemimixError(
                f"{self.name}: virtual_lr null follows the optimiser's learning rate, but this StepContext has no lr; pass it, or set virtual_lr to a number"
            )
        return ctx.lr

    def _first_order(self, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """ỹ and the finite-difference estimate of J g (eq. 10/11); 4 forward passes."""
        model = ctx.student
        params = [q for q in model.parameters() if q.requires_grad]
        raw = torch.autograd.grad(F.cross_entropy(model(x_l), y_l), params, allow_unused=True)  # eq. (9); .grad untouched
        g = [torch.zeros_like(q) if gi is None else gi for q, gi in zip(params, raw)]
        eps = self.params.epsilon_scale / global_norm(g).clamp_min(1e-12)
        with torch.no_grad():
            y_tilde = torch.softmax(model(x_u), dim=-1)
        f_plus, f_minus = central_difference(model, x_u, params, g, eps)
        return y_tilde, (f_plus - f_minus) / (eps if self.params.reference_divisor else 2 * eps)

    def _exact(self, x_l: torch.Tensor, y_l: torch.Tensor, x_u: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """ỹ and J g = (B^u/2α)·∇ỹ L_l(θ̃), differentiating through the virtual step; 2 forward passes."""
        model, alpha = ctx.student, self.virtual_lr(ctx)
        named = {k: q for k, q in model.named_parameters() if q.requires_grad}
        with torch.enable_grad():
            probs = torch.softmax(model(x_u), dim=-1)
            y_tilde = probs.detach().requires_grad_(True)
            unlabeled = (probs - y_tilde).pow(2).sum(dim=-1).mean()  # eq. (3), Φ^MSE
            raw = torch.autograd.grad(unlabeled, list(named.values()), create_graph=True, allow_unused=True)
            grads = [torch.zeros_like(q) if gi is None else gi for q, gi in zip(named.values(), raw)]
            theta = virtual_sgd_step(named, grads, alpha)  # eq. (4)
            labeled = F.cross_entropy(functional_call(model, theta, (x_l,)), y_l)  # eq. (5)
            (d,) = torch.autograd.grad(labeled, y_tilde)
        return y_tilde.detach(), d * (len(x_u) / (2 * alpha))

    def _project(self, y: torch.Tensor) -> torch.Tensor:
        return relu_renormalise(y) if self.params.pseudo_label_projection == "relu" else y


def kl_to_target(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Φ^KL = Σ t (log t − log softmax z), batch mean; entries t ≤ 0 (the paper's ŷ may leave the
    simplex) contribute −t log p only, so the gradient is always the soft cross-entropy's."""
    t_log_t = torch.where(target > 0, target * torch.log(target.clamp_min(1e-30)), torch.zeros_like(target))
    return (t_log_t - target * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


# Table 4 ablation rows as named variants (row 4 = meta-gradient itself).
@dataclass
class MetaGradientNoMixupParams(MetaGradientParams):
    mixup: bool = False


class MetaGradientNoMixup(MetaGradient):
    name = "meta-gradient-no-mixup"
    summary = "Meta-gradient SSL ablation: meta on, mixup off (Table 4, row 2)"
    Params = MetaGradientNoMixupParams


@dataclass
class MetaGradientMixupOnlyParams(MetaGradientParams):
    meta: bool = False


class MetaGradientMixupOnly(MetaGradient):
    name = "meta-gradient-mixup-only"
    summary = "Meta-gradient SSL ablation: meta off, mixup on (Table 4, row 3)"
    Params = MetaGradientMixupOnlyParams


@dataclass
class MetaGradientNeitherParams(MetaGradientParams):
    meta: bool = False
    mixup: bool = False


class MetaGradientNeither(MetaGradient):
    name = "meta-gradient-neither"
    summary = "Meta-gradient SSL ablation: meta off, mixup off (Table 4, row 1)"
    Params = MetaGradientNeitherParams
