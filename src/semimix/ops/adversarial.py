"""Perturbations that seek where a model is least smooth: VAT's virtual adversarial direction
and the label-based attacks FGSM, FGM (L2) and PGD.

All of them run the model with BatchNorm running statistics frozen, and leave the model's
parameter gradients untouched (gradients are taken w.r.t. the input only).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from semimix.errors import SemimixError
from semimix.ops.batchnorm import frozen_batchnorm
from semimix.ops.losses import Divergence, kl_divergence

Model = Callable[[torch.Tensor], torch.Tensor]
# The valid input range, (low, high): numbers, or tensors broadcasting over x (per channel); None = unbounded.
Bounds = tuple[float | torch.Tensor, float | torch.Tensor] | None


def l2_normalize(d: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Each sample scaled to unit L2 norm over all its non-batch dims (zero stays zero)."""
    norms = d.flatten(1).norm(dim=1).clamp_min(eps)
    return d / norms.view(-1, *([1] * (d.dim() - 1)))


def clip_to(x: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """``x`` clamped into ``bounds`` elementwise; unchanged when ``bounds`` is None."""
    if bounds is None:
        return x
    low, high = bounds
    if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):  # torch.clamp takes two tensors or two numbers
        return torch.clamp(x, torch.as_tensor(low, device=x.device), torch.as_tensor(high, device=x.device))
    return torch.clamp(x, low, high)


def _input_grad(loss: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def full_precision(x: torch.Tensor) -> torch.autocast:
    """Autocast off on ``x``'s device: VAT's power iteration runs in float32, and so must a model's own
    prediction that it is measured against (see ``vat_perturbation``)."""
    return torch.autocast(x.device.type, enabled=False)


def vat_perturbation(
    model: nn.Module,
    x: torch.Tensor,
    target_probs: torch.Tensor,
    *,
    epsilon: float,
    xi: float = 1e-6,
    power_iterations: int = 1,
    divergence: Divergence = kl_divergence,
) -> torch.Tensor:
    """r_adv with ‖r_adv‖₂ = ε per sample, approximating argmax_{‖r‖≤ε} D(target, f(x + r)).

    Power iteration as in VAT: d ~ N(0, I); repeat d ← ∇_d D(target, f(x + ξ·d̂)); r = ε·d̂.
    ``target_probs`` is whatever the caller already has (the student's clean prediction for VAT,
    the teacher's for AdvMixup), so no extra forward pass is paid for it. The result is detached.
    The power iteration runs in fp32 even under bf16 autocast: x + ξ·d̂ at ξ = 1e-6 rounds back to x
    in bf16 (8 mantissa bits), which would leave a zero gradient and a random direction. Where the
    target is the model's own prediction at x (VAT), compute it in fp32 too (``full_precision``): its
    first-order term ∇_d D(p(x), p(x + ξd)) vanishes only if both are the same p, and a bf16-rounded p(x)
    (off by up to ~1e-2) leaves a term that outweighs the ξ-scale curvature the iteration is after.
    """
    d = torch.randn_like(x)
    target_probs = target_probs.float()
    with frozen_batchnorm(model), full_precision(x):
        for _ in range(power_iterations):
            d = (xi * l2_normalize(d)).requires_grad_(True)
            loss = divergence(model(x.detach() + d), target_probs.detach())
            d = _input_grad(loss, d)
    return (epsilon * l2_normalize(d)).detach()


ATTACK_NORMS = ("l2", "linf")


def _check_norm(norm: str) -> None:
    """At the door of each attack, so the helpers below may take the norm as valid."""
    if norm not in ATTACK_NORMS:
        raise SemimixError(f"unknown attack norm {norm!r}; choose one of {', '.join(ATTACK_NORMS)}")


def _attack_step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        return grad.sign()
    assert norm == "l2", f"attack norm {norm!r} not checked by _check_norm"
    return l2_normalize(grad)


def _project(delta: torch.Tensor, epsilon: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    scale = (epsilon / norms).clamp(max=1.0)
    return delta * scale.view(-1, *([1] * (delta.dim() - 1)))


def _random_start(x: torch.Tensor, epsilon: float, norm: str) -> torch.Tensor:
    """A uniform draw inside the L∞ ball, or a random direction at a uniform radius in the L2 ball."""
    if norm == "linf":
        return torch.empty_like(x).uniform_(-epsilon, epsilon)
    radius = epsilon * torch.rand(len(x), device=x.device).view(-1, *([1] * (x.dim() - 1)))
    return radius * l2_normalize(torch.randn_like(x))


def _label_loss_grad(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with frozen_batchnorm(model):
        loss = F.cross_entropy(model(x), labels)
    return _input_grad(loss, x)


def fgsm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, epsilon: float, bounds: Bounds = None) -> torch.Tensor:
    """x + ε·sign(∇_x CE) (Goodfellow et al.): the L∞ fast gradient sign method."""
    return fast_gradient(model, x, labels, epsilon, norm="linf", bounds=bounds)


def fgm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, epsilon: float, bounds: Bounds = None) -> torch.Tensor:
    """x + ε·∇_x CE/‖∇_x CE‖₂ per sample: the L2 fast gradient method of AdvMixup's Tables IV–V."""
    return fast_gradient(model, x, labels, epsilon, norm="l2", bounds=bounds)


def fast_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, epsilon: float, norm: str, bounds: Bounds = None) -> torch.Tensor:
    """One gradient step of size ε in the given norm, clipped into ``bounds``; the adversarial input is detached."""
    _check_norm(norm)
    return clip_to(x + epsilon * _attack_step(_label_loss_grad(model, x, labels), norm), bounds).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    norm: str = "linf",
    random_start: bool = True,
    bounds: Bounds = None,
) -> torch.Tensor:
    """Projected gradient ascent on CE within the ε-ball (Madry et al.); step size 2.5ε/steps by default.
    Every iterate is clipped into ``bounds`` (x lies inside them), which keeps it inside the ball."""
    _check_norm(norm)
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    delta = _inside(x, _random_start(x, epsilon, norm) if random_start else torch.zeros_like(x), bounds)
    for _ in range(steps):
        grad = _label_loss_grad(model, x + delta, labels)
        delta = _inside(x, _project(delta + step_size * _attack_step(grad, norm), epsilon, norm), bounds)
    return clip_to(x + delta, bounds).detach()


def _inside(x: torch.Tensor, delta: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """δ shortened per element so that x + δ lies in ``bounds``."""
    return delta if bounds is None else clip_to(x + delta, bounds) - x
