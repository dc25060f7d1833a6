"""Each method's declared pass count (``Method.passes``) is what one step really runs: forward
passes with and without grad, in bf16 autocast or kept in float32, and the backward passes
through them, by batch size, counted with hooks on a tiny model under bf16 autocast."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from semimix.methods import METHOD_NAMES, build_method
from semimix.methods.base import BACKWARD, FORWARD, FP32_FORWARD, FP32_NO_GRAD, INPUT_BACKWARD, NO_GRAD, PASS_KINDS, Pass
from test_methods import tiny_setup

LABELED, UNLABELED = 12, 24  # tiny_setup's batch sizes


class PassRecorder:
    """Records every forward of ``model`` and every backward through its output. A backward seen
    while the loss is still being built is to the input (VAT's power iteration) unless it reaches
    the parameters (a hook on the first trainable one fires), as meta-gradient's ∇θ L_l does."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.passes: list[Pass] = []
        self.building = True
        self.pending: int | None = None  # index of the last backward seen while building
        model.register_forward_hook(self._forward)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if trainable:
            trainable[0].register_hook(self._parameter_grad)

    def _forward(self, _module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
        n = len(output)
        autocast = torch.is_autocast_enabled(output.device.type)
        kind = (FORWARD if autocast else FP32_FORWARD) if output.requires_grad else (NO_GRAD if autocast else FP32_NO_GRAD)
        self.passes.append((kind, n))
        if output.requires_grad:
            output.register_hook(lambda grad: self._backward(n))

    def _backward(self, n: int) -> None:
        if self.building:
            self.pending = len(self.passes)
        self.passes.append((INPUT_BACKWARD if self.building else BACKWARD, n))

    def _parameter_grad(self, grad: torch.Tensor) -> None:
        if self.building and self.pending is not None:
            self.passes[self.pending] = (BACKWARD, self.passes[self.pending][1])
            self.pending = None


def recorded_passes(name: str, params: dict | None = None) -> tuple[list[Pass], list[Pass] | None]:
    method, student, teacher, batch, ctx = tiny_setup(name)
    if params:
        method = build_method(name, {**method.params.__dict__, **params})
    recorders = [PassRecorder(m) for m in (student, teacher) if m is not None]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the step as precision: auto runs it where bf16 is native
        terms = method.losses(batch, ctx)
    for r in recorders:
        r.building = False
    torch.stack(list(terms.values())).sum().backward()
    return [p for r in recorders for p in r.passes], method.passes(LABELED, UNLABELED)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_declared_passes_are_the_passes_a_step_runs(name: str) -> None:
    seen, declared = recorded_passes(name)
    assert declared is not None
    assert Counter(seen) == Counter(declared)


@pytest.mark.parametrize(
    "name, params",
    [
        ("vat", {"power_iterations": 2}),
        ("vat", {"balance_weight": 1.0}),  # the class-balance term trains the clean pass
        ("advmixup", {"perturbation_target": "student"}),
        ("advmixup", {"use_teacher": False}),
        ("mean-teacher", {"include_labeled": False}),
        ("supervised", {"mixup_alpha": 1.0}),
        ("mixmatch", {"augmentations": 3}),
        ("remixmatch", {"pre_mixup_weight": 0.0, "augmentations": 3}),
        ("untied-mixup", {"use_teacher": False}),
        ("meta-gradient", {"add_labeled_loss": True}),
        ("meta-gradient", {"mixup": False, "meta": False}),
    ],
)
def test_passes_follow_the_hyperparameters(name: str, params: dict) -> None:
    seen, declared = recorded_passes(name, params)
    assert Counter(seen) == Counter(declared)


def test_untied_mixup_without_unlabeled_data_runs_only_the_labeled_pass() -> None:
    method, student, _teacher, batch, ctx = tiny_setup("untied-mixup")
    batch.x_u = batch.idx_u = None
    recorder = PassRecorder(student)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = method.losses(batch, ctx)
    recorder.building = False
    torch.stack(list(terms.values())).sum().backward()
    assert Counter(recorder.passes) == Counter(method.passes(LABELED, 0))


def test_exact_meta_gradient_declares_the_passes_hooks_see_plus_its_double_backward() -> None:
    """Algorithm 1's hooks see the virtual step's create-graph backward (to θ), and the labeled
    backward at θ̃ as one to an input (θ̃ is not a leaf parameter); the double backward through the
    virtual step passes no module output, so hooks cannot see it: the declaration counts it as one
    forward + backward of the unlabeled batch."""
    seen, declared = recorded_passes("meta-gradient", {"algorithm": "exact"})
    seen = [(BACKWARD, LABELED) if p == (INPUT_BACKWARD, LABELED) else p for p in seen]
    assert Counter(seen) + Counter({(FORWARD, UNLABELED): 1, (BACKWARD, UNLABELED): 1}) == Counter(declared)


def test_every_declaration_uses_known_kinds() -> None:
    for name in METHOD_NAMES:
        declared = build_method(name).passes(LABELED, UNLABELED)
        assert declared is not None, f"{name} declares no passes"
        assert all(kind in PASS_KINDS and n > 0 for kind, n in declared)
