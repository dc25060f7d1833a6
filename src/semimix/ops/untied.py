"""Untied MixUp's λ/γ policies (the DAT paper, sec. 3 and eq. 5): inputs are mixed with λ, labels
with the weight γ(λ). The paper's policy U(B(α, β)) maps the DAT policy p = Beta(α, β) to

    mixing density  (p(λ) + p(1−λ)) / 2,      label weight  γ(λ) = p(λ) / (p(λ) + p(1−λ)),

sampled as the reference code's ``--dat_transform`` does: λ ~ Beta(α, β), replaced by 1−λ with
probability ½. The Beta normalising constants cancel in γ, so γ(λ) = σ((α−β)·logit λ) exactly;
U(B(α+1, α)) is ordinary mixup with Beta(α, α) (density ∝ λ^(α−1)(1−λ)^(α−1), γ(λ) = λ).
Everything here runs on the λ's device with no host sync.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from semimix.errors import SemimixError

GammaFn = Callable[[torch.Tensor], torch.Tensor]
CDF_TABLE_POINTS = 4097


def beta_log_pdf(lam: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """log p(λ) of Beta(α, β), via lgamma; xlogy keeps (α−1)·log λ = 0 when α = 1 and λ = 0."""
    log_norm = math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)
    return torch.xlogy(alpha - 1.0, lam) + torch.xlogy(beta - 1.0, 1.0 - lam) - log_norm


def untied_density(lam: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """The mixing density of U(B(α, β)): (p(λ) + p(1−λ)) / 2."""
    return 0.5 * (beta_log_pdf(lam, alpha, beta).exp() + beta_log_pdf(1.0 - lam, alpha, beta).exp())


def untied_gamma(lam: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """γ(λ) = p(λ) / (p(λ) + p(1−λ)) = σ((α−β)·(log λ − log(1−λ))), finite at λ ∈ {0, 1} too."""
    if alpha == beta:  # a symmetric p gives both labels equal weight
        return torch.full_like(lam, 0.5)
    logit = torch.log(lam) - torch.log1p(-lam)
    return torch.sigmoid((alpha - beta) * logit)


def sample_beta(alpha: float, beta: float, shape: tuple[int, ...] = (), device: torch.device | str = "cpu") -> torch.Tensor:
    """λ ~ Beta(α, β) of ``shape`` (``()`` = one λ per batch), drawn on ``device``."""
    a = torch.full(shape, float(alpha), device=device)
    b = torch.full(shape, float(beta), device=device)
    return torch.distributions.Beta(a, b).sample()


def sample_untied(alpha: float, beta: float, shape: tuple[int, ...] = (), device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(λ, γ(λ)) from U(B(α, β)): λ ~ Beta(α, β), flipped to 1−λ with probability ½."""
    lam = sample_beta(alpha, beta, shape, device)
    flip = torch.rand(shape, device=device) < 0.5
    lam = torch.where(flip, 1.0 - lam, lam)
    return lam, untied_gamma(lam, alpha, beta)


def beta_cdf(alpha: float, beta: float, points: int = CDF_TABLE_POINTS) -> GammaFn:
    """γ(λ) = I_λ(α, β), the Beta(α, β) CDF (the reference code's γ without ``--dat_transform``).

    PyTorch has no regularised incomplete beta, so scipy tabulates it once, here, on a uniform
    grid of ``points`` values; the returned function interpolates linearly on λ's device. The
    error is below 1e-6 for α, β ≥ 1 and grows near λ = 0 or 1 when α or β < 1 (infinite slope).
    """
    from scipy.special import betainc

    grid = torch.linspace(0.0, 1.0, points, dtype=torch.float64)
    table = torch.from_numpy(betainc(alpha, beta, grid.numpy()))
    on_device: dict[torch.device, torch.Tensor] = {}

    def gamma(lam: torch.Tensor) -> torch.Tensor:
        t = on_device.setdefault(lam.device, table.to(lam.device, lam.dtype))
        pos = lam.clamp(0.0, 1.0) * (points - 1)
        lo = pos.floor().long().clamp(max=points - 2)
        frac = pos - lo
        return t[lo] + frac * (t[lo + 1] - t[lo])

    return gamma


def gamma_function(spec: str | GammaFn) -> GammaFn:
    """A label-weight function from a config: a callable λ ↦ γ(λ) (returned as is), ``"mixup"``
    (γ = λ), ``"first"`` (γ = 1: keep the first label, i.e. DAT) or ``"beta-cdf:a,b"``."""
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise SemimixError(f"gamma must be a callable or a string (mixup, first or beta-cdf:a,b), got {spec!r}")
    if spec == "mixup":
        return lambda lam: lam
    if spec == "first":
        return torch.ones_like
    if spec.startswith("beta-cdf:"):
        try:
            a, b = (float(v) for v in spec.removeprefix("beta-cdf:").split(","))
        except ValueError:
            raise SemimixError(f"gamma {spec!r}: write beta-cdf:a,b with two numbers, e.g. beta-cdf:2,1") from None
        if a <= 0 or b <= 0:
            raise SemimixError(f"gamma {spec!r}: the Beta CDF needs a, b > 0, e.g. beta-cdf:2,1")
        return beta_cdf(a, b)
    raise SemimixError(f"unknown gamma {spec!r}; use mixup, first, beta-cdf:a,b or a callable")
