"""Each method's declared pass count (``Method.passes``) is what one step really runs: forward
passes with and without grad, and the backward passes through them, by batch size, counted with
hooks on a tiny model."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from test_methods import tiny_setup

from semimix.methods import METHOD_NAMES, build_method
from semimix.methods.base import BACKWARD, FORWARD, INPUT_BACKWARD, NO_GRAD, PASS_KINDS, Pass

LABELED, UNLABELED = 12, 24  # tiny_setup's batch sizes


class PassRecorder:
    """Records every forward of ``model`` and every backward through its output; a backward
    seen while the loss is still being built can only be to the input (VAT's power iteration)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.passes: list[Pass] = []
        self.building = True
        model.register_forward_hook(self._forward)

    def _forward(self, _module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        n = len(output)
        self.passes.append((FORWARD if output.requires_grad else NO_GRAD, n))
        if output.requires_grad:
            output.register_hook(lambda grad: self.passes.append((INPUT_BACKWARD if self.building else BACKWARD, n)))


def recorded_passes(name: str, params: dict | None = None) -> tuple[list[Pass], list[Pass] | None]:
    method, student, teacher, batch, ctx = tiny_setup(name)
    if params:
        method = build_method(name, {**method.params.__dict__, **params})
    recorders = [PassRecorder(m) for m in (student, teacher) if m is not None]
    terms = method.losses(batch, ctx)
    for r in recorders:
        r.building = False
    torch.stack(list(terms.values())).sum().backward()
    return [p for r in recorders for p in r.passes], method.passes(LABELED, UNLABELED)


DECLARED = ["supervised", "pi-model", "mean-teacher", "vat", "vat-entmin", "ict", "advmixup", "adv-adv-mixup",
            "advmixup-no-teacher", "input-mixup", "manifold-mixup"]


@pytest.mark.parametrize("name", DECLARED)
def test_declared_passes_are_the_passes_a_step_runs(name: str) -> None:
    seen, declared = recorded_passes(name)
    assert declared is not None
    assert Counter(seen) == Counter(declared)


@pytest.mark.parametrize(
    "name, params",
    [
        ("vat", {"power_iterations": 2}),
        ("advmixup", {"perturbation_target": "student"}),
        ("mean-teacher", {"include_labeled": False}),
        ("supervised", {"mixup_alpha": 1.0}),
    ],
)
def test_passes_follow_the_hyperparameters(name: str, params: dict) -> None:
    seen, declared = recorded_passes(name, params)
    assert Counter(seen) == Counter(declared)


def test_every_declaration_uses_known_kinds() -> None:
    for name in METHOD_NAMES:
        declared = build_method(name).passes(LABELED, UNLABELED)
        assert declared is None or all(kind in PASS_KINDS and n > 0 for kind, n in declared)
