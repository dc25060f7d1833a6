"""Robustness of trained models to adversarial inputs (AdvMixup's Tables IV–V) and the unbounded-PGD
sanity check against gradient masking (Athalye et al. 2018; Manifold Mixup's appendix F).

Everything here works on plain models and tensors (opening runs is ``semimix.workflows``' job):

* ``ScoreModel`` turns a trained network into one differentiable map "attacked input → class
  scores": optionally ``preprocess`` first (so ε can be measured in raw pixel units, with the
  gradient taken through the normalisation, exact for any preprocess including ZCA), then the
  network, then the method's ``class_scores`` (logits for most methods, cosine scores for
  negative-cosine ones), on which the attacks maximise cross-entropy.
* ``craft`` runs one of the ``semimix.ops`` attacks in batches, in eval mode (BatchNorm uses its
  running statistics and, as in ``ops``, never updates them; dropout off), and puts the model's
  train/eval mode back afterwards.
* ``attack_errors`` crafts on a *source* model and measures the error of one or more *target*
  models on the result: white-box when the source is the target, black-box (transfer) otherwise.
  Targets are only ever run forward under ``torch.no_grad``: a black-box result depends on the
  source's gradients alone.
* ``masking_check``: PGD with an ε so large the ball never binds (1e3 in input units), many steps
  and no random start must drive accuracy to about 0; a model it leaves above ``threshold``
  accuracy has gradients that do not lead to its errors (step functions, saturated softmax), so
  its robustness numbers are suspect ("possible gradient masking").

Errors are fractions in [0, 1] here; the printed tables (``semimix.tables``) show percentages as the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from semimix.eval.settings import (
    ATTACKS,
    DEFAULT_BATCH,
    DEFAULT_NORM,
    MASKING_EPSILON,
    MASKING_RELATIVE_STEP,
    MASKING_STEPS,
    MASKING_THRESHOLD,
    NORMS,
)
from semimix.ops import fast_gradient, pgd, vat_perturbation
from semimix.ops.adversarial import Bounds, clip_to


class ScoreModel(nn.Module):
    """x → class_scores(model(preprocess(x))), each stage optional, as one differentiable module
    (so ``frozen_batchnorm`` and ``.eval()`` reach the wrapped network)."""

    def __init__(
        self,
        model: nn.Module,
        class_scores: Callable[[torch.Tensor], torch.Tensor] | None = None,
        preprocess: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self.scores = class_scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        out = self.model(x)
        return self.scores(out) if self.scores is not None else out


def model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _dtype(model: nn.Module) -> torch.dtype:
    for t in model.parameters():
        return t.dtype if t.is_floating_point() else torch.float32
    return torch.float32


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside; its previous train/eval flags (per module) restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in flags:
            m.training = training


def resolve_norm(attack: str, norm: str | None) -> str:
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {', '.join(ATTACKS)}")
    norm = DEFAULT_NORM[attack] if norm is None else norm
    if norm not in NORMS:
        raise ValueError(f"unknown attack norm {norm!r}; choose l2 or linf")
    if attack == "vat" and norm != "l2":
        raise ValueError("the vat attack is defined in L2 only")
    return norm


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def craft(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    attack: str,
    epsilon: float,
    norm: str | None = None,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    batch_size: int = DEFAULT_BATCH,
    bounds: Bounds = None,
) -> torch.Tensor:
    """Adversarial versions of ``x`` (on the CPU, in the units ``model`` takes) with perturbation size
    ``epsilon`` in ``norm`` (default per attack, see ``DEFAULT_NORM``), crafted in batches in eval mode
    and clipped into ``bounds`` (the inputs' valid range, in x's units; None: not clipped).

    fgm/fgsm: one step x + ε·ĝ (L2) or x + ε·sign(g) (L∞) on the CE gradient (``ops.fast_gradient``);
    pgd: ``steps`` projected steps of ``step_size`` (default 2.5ε/steps), optionally from a random
    start (``ops.pgd``); vat: x + ε·(virtual adversarial direction) against the model's own
    prediction, with ``steps`` power iterations (``ops.vat_perturbation``; labels unused).
    """
    norm = resolve_norm(attack, norm)
    if not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon!r}")
    device, dtype = model_device(model), _dtype(model)
    if bounds is not None:
        low, high = bounds
        bounds = (torch.as_tensor(low, dtype=dtype, device=device), torch.as_tensor(high, dtype=dtype, device=device))
    out = []
    with eval_mode(model):
        for s in _batches(len(x), batch_size):
            xb, yb = x[s].to(device, dtype), y[s].to(device)
            if attack in ("fgm", "fgsm"):
                adv = fast_gradient(model, xb, yb, epsilon, norm=norm, bounds=bounds)
            elif attack == "pgd":
                adv = pgd(model, xb, yb, epsilon, steps=steps, step_size=step_size, norm=norm, random_start=random_start, bounds=bounds)
            else:
                with torch.no_grad():
                    probs = torch.softmax(model(xb), dim=1)
                adv = clip_to(xb + vat_perturbation(model, xb, probs, epsilon=epsilon, power_iterations=steps), bounds)
            out.append(adv.detach().cpu())
    return torch.cat(out) if out else x.float().clone()


@torch.no_grad()
def channel_affine(preprocess: nn.Module | None, shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, shift), each (C,), when ``preprocess`` maps channel c of (C, ...) inputs by x ↦ scale_c·x + shift_c,
    scale_c ≠ 0 (identity, per-channel standardisation), as probing it at 0, at 1 in each channel and at 255
    shows; None when it mixes pixels or channels (ZCA, GCN)."""
    channels, tail = shape[0], [1] * (len(shape) - 1)
    probes = torch.cat(
        [
            torch.zeros(1, *shape),
            torch.eye(channels).view(channels, channels, *tail).expand(channels, *shape),
            torch.full((1, *shape), 255.0),
        ]
    )
    out = probes.double() if preprocess is None else preprocess(probes.to(model_device(preprocess))).double().cpu()
    shift = out[0].flatten(1)[:, 0]
    scale = torch.stack([out[1 + c, c].flatten()[0] for c in range(channels)]) - shift
    expected = probes.double() * scale.view(1, -1, *tail) + shift.view(1, -1, *tail)
    if scale.eq(0).any() or not torch.allclose(out, expected, rtol=1e-5, atol=1e-5 * float(out.abs().max())):
        return None
    return scale.float(), shift.float()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = DEFAULT_BATCH) -> torch.Tensor:
    """Argmax of the class scores for every row of ``x``, in eval mode, on the CPU."""
    device, dtype = model_device(model), _dtype(model)
    with eval_mode(model):
        return torch.cat([model(x[s].to(device, dtype)).argmax(dim=1).cpu() for s in _batches(len(x), batch_size)])


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = DEFAULT_BATCH) -> float:
    """Fraction of rows whose predicted class is not the label."""
    return (predict(model, x, batch_size) != y.cpu()).double().mean().item() if len(x) else float("nan")


def perturbation_norms(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    d = (x_adv.double() - x.double()).flatten(1)
    return d.abs().amax(dim=1) if norm == "linf" else d.norm(dim=1)


def attack_errors(
    source: nn.Module,
    targets: dict[str, nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    epsilons: Sequence[float],
    *,
    attack: str,
    norm: str | None = None,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    batch_size: int = DEFAULT_BATCH,
    target_inputs: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict:
    """Craft adversarial inputs on ``source`` once per ε and measure every target's error on them.

    ``x`` is in the units the source takes (and ε with it); ``target_inputs`` maps them to the
    targets' units when these differ (default: identity). Targets run forward only, without
    gradients. Returns ``{"epsilons", "norm", "clean_error": {name: e}, "errors": {name: [e per ε]},
    "source_errors": [the source's own error per ε], "perturbation": [per ε: min/mean/max achieved
    norm]}``; the achieved norm falls short of ε only where a sample's gradient is (numerically) zero.
    """
    norm = resolve_norm(attack, norm)
    to_target = target_inputs if target_inputs is not None else (lambda t: t)
    result: dict = {
        "epsilons": [float(e) for e in epsilons],
        "norm": norm,
        "clean_error": {name: error_rate(m, to_target(x), y, batch_size) for name, m in targets.items()},
        "source_clean_error": error_rate(source, x, y, batch_size),
        "errors": {name: [] for name in targets},
        "source_errors": [],
        "perturbation": [],
    }
    for eps in epsilons:
        x_adv = craft(
            source, x, y, attack=attack, epsilon=float(eps), norm=norm, steps=steps, step_size=step_size, random_start=random_start, batch_size=batch_size
        )
        norms = perturbation_norms(x_adv, x, norm)
        result["perturbation"].append({"min": norms.min().item(), "mean": norms.mean().item(), "max": norms.max().item()} if len(norms) else {})
        result["source_errors"].append(error_rate(source, x_adv, y, batch_size))
        moved = to_target(x_adv)
        for name, m in targets.items():
            result["errors"][name].append(error_rate(m, moved, y, batch_size))
    return result


def data_scale(x: torch.Tensor, norm: str) -> float:
    """A typical size of the inputs: RMS coordinate (L∞) or median per-sample L2 norm; 1 if all zero."""
    flat = x.double().flatten(1)
    if len(flat) == 0:
        return 1.0
    scale = flat.pow(2).mean().sqrt().item() if norm == "linf" else flat.norm(dim=1).median().item()
    return scale if scale > 0 and math.isfinite(scale) else 1.0


def masking_check(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    epsilon: float = MASKING_EPSILON,
    steps: int = MASKING_STEPS,
    step_size: float | None = None,
    threshold: float = MASKING_THRESHOLD,
    batch_size: int = DEFAULT_BATCH,
) -> dict:
    """Unbounded PGD sanity check: ``steps`` steps of PGD with a ball (``epsilon``, input units) far
    larger than the data, no random start (a random point in a huge ball would hide a masked gradient
    behind noise), and ``step_size`` = 5% of the data's scale (``data_scale``) unless given. Accuracy
    left above ``threshold`` sets ``possible_gradient_masking``: the model's input gradients do not
    lead to its errors, and attacks built on them (the robustness numbers) would overstate robustness.
    """
    norm = resolve_norm("pgd", norm)
    step = MASKING_RELATIVE_STEP * data_scale(x, norm) if step_size is None else float(step_size)
    x_adv = craft(model, x, y, attack="pgd", epsilon=epsilon, norm=norm, steps=steps, step_size=step, random_start=False, batch_size=batch_size)
    accuracy = 1.0 - error_rate(model, x_adv, y, batch_size) if len(x) else float("nan")
    return {
        "attack": "pgd",
        "norm": norm,
        "epsilon": float(epsilon),
        "steps": int(steps),
        "step_size": step,
        "random_start": False,
        "samples": len(x),
        "clean_accuracy": 1.0 - error_rate(model, x, y, batch_size) if len(x) else float("nan"),
        "accuracy": accuracy,
        "threshold": float(threshold),
        "possible_gradient_masking": bool(accuracy > threshold),
    }


def same_module(a: nn.Module | None, b: nn.Module | None) -> bool:
    """Whether two preprocess modules compute the same map: same structure and equal buffers/parameters."""
    if a is None or b is None:
        return a is None and b is None
    if [type(m) for m in a.modules()] != [type(m) for m in b.modules()]:
        return False
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)
