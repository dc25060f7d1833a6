"""AdvMixup's Fig. 3: a model's error on virtual samples along real–real (ICT) and real–adversarial
(AdvMixup) interpolation paths, as a function of the mixing coefficient λ.

For a pair of test samples (x_i, y_i), (x_j, y_j):

* real–real:        x̂ = λ x_i + (1 − λ) x_j,
* real–adversarial: x̂ = λ x_i + (1 − λ) x_j^adv, x_j^adv = x_j + r_vat(x_j) with ‖r_vat‖₂ = ε,
  the virtual adversarial perturbation against the model's own prediction (``ops.vat_perturbation``
  with target softmax(f(x_j)), as AdvMixup builds its virtual samples, there with the teacher's
  prediction),

with the mixed target ŷ = λ e_{y_i} + (1 − λ) e_{y_j} on both paths. As in the paper, a virtual
sample counts as an error when the model's prediction disagrees with the dominant label of ŷ, its
argmax: y_i for λ > ½, y_j for λ < ½. Ties: at λ = ½ with y_i ≠ y_j both labels weigh ½, and the
argmax is broken uniformly at random, counted in expectation: a prediction of one of the two labels
is half an error, any other class a whole one (the mean of the λ → ½⁺ and λ → ½⁻ rules, so the curve
has no artificial dip at ½; counting either label as right would make ½ look easier than its
neighbours). When y_i = y_j the label is y_i at every λ. Hence at λ = 1 both paths give the clean error on the x_i,
at λ = 0 the real–real path gives the clean error on the x_j and the real–adversarial path the
error on x_j^adv against y_j.

Inputs are in the model's input units (after normalisation/ZCA), where ε is measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from semimix.eval.robustness import _batches, _dtype, eval_mode, model_device, predict
from semimix.eval.settings import DEFAULT_BATCH, DEFAULT_GRID
from semimix.ops import vat_perturbation


def lambda_grid(points: int = DEFAULT_GRID) -> torch.Tensor:
    """``points`` evenly spaced λ in [0, 1], float64, with both ends exact."""
    if points < 2:
        raise ValueError(f"the λ grid needs at least 2 points, got {points}")
    return torch.linspace(0.0, 1.0, points, dtype=torch.float64)


def dominant_label_errors(pred: torch.Tensor, y_i: torch.Tensor, y_j: torch.Tensor, lam: float) -> torch.Tensor:
    """Per pair, 1.0 where ``pred`` misses the dominant label of λ e_{y_i} + (1 − λ) e_{y_j}, else 0.0;
    at a tie (λ = ½, y_i ≠ y_j) the expected error of a random tie-break: 0.5 for y_i or y_j, 1.0 otherwise."""
    if lam > 0.5:
        return (pred != y_i).double()
    if lam < 0.5:
        return (pred != y_j).double()
    return 0.5 * ((pred != y_i).double() + (pred != y_j).double())


def sample_pairs(y: torch.Tensor, pairs: int, generator: torch.Generator, distinct_classes: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``pairs`` index pairs (i, j), i ≠ j, drawn uniformly with replacement across pairs; with
    ``distinct_classes``, only pairs whose labels differ (as a path that crosses a class boundary)."""
    n = len(y)
    if n < 2:
        raise ValueError("a path study needs at least 2 samples")
    if distinct_classes and len(torch.unique(y)) < 2:
        raise ValueError("distinct_classes needs samples of at least 2 classes")
    i = torch.randint(n, (pairs,), generator=generator)
    j = torch.randint(n, (pairs,), generator=generator)
    bad = (i == j) | ((y[i] == y[j]) if distinct_classes else torch.zeros_like(i, dtype=torch.bool))
    while bad.any():  # redraw the partners of invalid pairs (rare unless one class dominates)
        j[bad] = torch.randint(n, (int(bad.sum()),), generator=generator)
        bad = (i == j) | ((y[i] == y[j]) if distinct_classes else torch.zeros_like(i, dtype=torch.bool))
    return i, j


def vat_adversarial(
    model: nn.Module,
    x: torch.Tensor,
    *,
    epsilon: float,
    xi: float = 1e-6,
    power_iterations: int = 1,
    batch_size: int = DEFAULT_BATCH,
) -> torch.Tensor:
    """x + r_vat(x) in batches, eval mode, target = the model's own softmax prediction (CPU result)."""
    device, dtype = model_device(model), _dtype(model)
    out = []
    with eval_mode(model):
        for s in _batches(len(x), batch_size):
            xb = x[s].to(device, dtype)
            with torch.no_grad():
                probs = torch.softmax(model(xb), dim=1)
            r = vat_perturbation(model, xb, probs, epsilon=epsilon, xi=xi, power_iterations=power_iterations)
            out.append((xb + r).detach().cpu())
    return torch.cat(out)


def _mean_sem(flags: torch.Tensor) -> tuple[float, float]:
    f = flags.double()
    n = len(f)
    return f.mean().item(), (f.std(unbiased=True).item() / math.sqrt(n) if n > 1 else 0.0)


def path_errors(
    model: nn.Module,
    x_i: torch.Tensor,
    y_i: torch.Tensor,
    x_j: torch.Tensor,
    y_j: torch.Tensor,
    x_j_adv: torch.Tensor,
    lambdas: Sequence[float] | torch.Tensor,
    batch_size: int = DEFAULT_BATCH,
) -> dict:
    """Error (and its standard error over pairs) at each λ on both paths; see the module doc."""
    x_i, x_j, x_j_adv = (t.double() for t in (x_i, x_j, x_j_adv))
    y_i, y_j = y_i.cpu(), y_j.cpu()
    out: dict = {"lambdas": [float(v) for v in lambdas], "real_real": {"error": [], "sem": []}, "real_adversarial": {"error": [], "sem": []}}
    for lam in out["lambdas"]:
        for key, other in (("real_real", x_j), ("real_adversarial", x_j_adv)):
            mixed = (lam * x_i + (1.0 - lam) * other).float()
            wrong = dominant_label_errors(predict(model, mixed, batch_size), y_i, y_j, lam)
            mean, sem = _mean_sem(wrong)
            out[key]["error"].append(mean)
            out[key]["sem"].append(sem)
    return out


def path_study(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    pairs: int = 500,
    epsilon: float = 1.0,
    points: int = DEFAULT_GRID,
    seed: int = 0,
    xi: float = 1e-6,
    power_iterations: int = 1,
    distinct_classes: bool = False,
    batch_size: int = DEFAULT_BATCH,
    return_samples: bool = False,
) -> dict:
    """Fig. 3 on ``pairs`` random pairs of (x, y) (model input units): errors along both paths on a
    ``points``-point λ grid, plus the pair indices, the clean error and the error on x_j^adv. With
    ``return_samples`` the tensors x_j^adv are included (key ``x_j_adv``; not JSON-serialisable)."""
    if pairs < 1:
        raise ValueError(f"pairs must be >= 1, got {pairs}")
    generator = torch.Generator().manual_seed(seed)
    i, j = sample_pairs(y.cpu(), pairs, generator, distinct_classes)
    torch.manual_seed(seed)  # VAT's random start d ~ N(0, I)
    x_j_adv = vat_adversarial(model, x[j], epsilon=epsilon, xi=xi, power_iterations=power_iterations, batch_size=batch_size)
    result = path_errors(model, x[i], y[i], x[j], y[j], x_j_adv, lambda_grid(points), batch_size)
    lam = result["lambdas"]
    result.update(
        {
            "pairs": pairs,
            "epsilon": float(epsilon),
            "xi": xi,
            "power_iterations": power_iterations,
            "distinct_classes": distinct_classes,
            "same_class_fraction": (y[i] == y[j]).double().mean().item(),
            "seed": seed,
            "clean_error_x_i": result["real_real"]["error"][lam.index(1.0)],
            "clean_error_x_j": result["real_real"]["error"][lam.index(0.0)],
            "adversarial_error_x_j": result["real_adversarial"]["error"][lam.index(0.0)],
            "tie_rule": "at λ = 0.5 with y_i ≠ y_j: random tie-break in expectation (0.5 error for either label, 1 for another class)",
            "pair_indices": {"i": i.tolist(), "j": j.tolist()},
        }
    )
    if return_samples:
        result["x_j_adv"] = x_j_adv
    return result
