"""SCAR's selection (Yang, Kim & Kim 2023, Algorithm 1 lines 5-9): an unlabeled sample is kept, labeled
with the model's prediction ỹ = F(x), when the prediction survives an adversarial attack on ỹ at
perturbation size ε, F(x_adv) = ỹ; and the paper's statistics of that selection (eqs. 5-6).

Works on plain models and tensors in the model's input units (opening runs is ``semimix.workflows.scar``'s job).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from semimix.eval.robustness import craft, predict
from semimix.eval.settings import DEFAULT_BATCH
from semimix.ops.adversarial import Bounds


@dataclass
class Selection:
    """Per unlabeled sample: the pseudo-label F(x), the prediction after the attack F(x_adv), and
    whether the sample is selected (the two agree)."""

    pseudo: torch.Tensor
    attacked: torch.Tensor

    @property
    def selected(self) -> torch.Tensor:
        return self.pseudo == self.attacked


def robust_selection(
    model: nn.Module,
    x: torch.Tensor,
    epsilon: float,
    *,
    attack: str = "fgsm",
    norm: str | None = None,
    steps: int = 10,
    batch_size: int = DEFAULT_BATCH,
    pseudo: torch.Tensor | None = None,
    bounds: Bounds = None,
) -> Selection:
    """Attack every row of ``x`` at its own prediction (the paper's FGSM, or PGD) against the frozen
    ``model`` (eval mode, BN untouched), clipped into ``bounds`` (the valid range of ``x``; None: not
    clipped), and compare the predictions before and after. ``pseudo``: the model's clean predictions
    on ``x`` when already known (several ε on the same samples)."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    pseudo = predict(model, x, batch_size) if pseudo is None else pseudo
    x_adv = craft(model, x, pseudo, attack=attack, epsilon=epsilon, norm=norm, steps=steps, batch_size=batch_size, bounds=bounds)
    return Selection(pseudo, predict(model, x_adv, batch_size))


def selection_stats(selection: Selection, y_true: torch.Tensor | None = None) -> dict[str, float | int | None]:
    """Counts of the selection and, with the true labels, the paper's eqs. 5-6:

    sensitivity = #{y = F(x) = F(x_adv)} / #{F(x) = F(x_adv)} (selected samples whose label is right),
    specificity = #{y ≠ F(x), F(x) ≠ F(x_adv)} / #{F(x) ≠ F(x_adv)} (rejected samples whose label was wrong).
    A ratio over no samples is None.
    """
    selected = selection.selected
    n_selected = int(selected.sum())
    stats: dict[str, float | int | None] = {"samples": len(selected), "selected": n_selected, "rejected": len(selected) - n_selected}
    if y_true is None:
        return stats
    correct = selection.pseudo == y_true.to(selection.pseudo.device)
    sensitive, specific = int((correct & selected).sum()), int((~correct & ~selected).sum())
    stats.update(
        pseudo_label_accuracy=float(correct.double().mean()) if len(correct) else None,
        selected_correct=sensitive,
        rejected_wrong=specific,
        sensitivity=sensitive / n_selected if n_selected else None,
        specificity=specific / stats["rejected"] if stats["rejected"] else None,
    )
    return stats
