"""ReMixMatch on hand-computed cases (distribution alignment, the rotated quarters, the guess and its
history of model marginals), its rotation term on images (a gradient to the student, the pass and BN
policy, the network's extra outputs), and a run whose outputs are the class logits plus the rotation
head's: evaluation, probabilities, export and prediction see the classes only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from semimix.api import load_config, train
from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.methods.base import class_scores_of
from semimix.methods.remixmatch import align_distribution, rotated_quarters
from semimix.models import build_model
from semimix.ops import sharpen


def test_align_distribution_by_hand() -> None:
    # ratio (p(y) / p̃(y)) = (0.5 / 0.75, 0.5 / 0.25) = (2/3, 2): [0.5, 0.5] → [1/3, 1] → [0.25, 0.75]
    aligned = align_distribution(torch.tensor([[0.5, 0.5], [0.9, 0.1]]), torch.tensor([0.5, 0.5]), torch.tensor([0.75, 0.25]))
    second = torch.tensor([0.9 * 2 / 3, 0.1 * 2]) / (0.9 * 2 / 3 + 0.1 * 2)  # [0.75, 0.25]
    assert torch.allclose(aligned, torch.stack([torch.tensor([0.25, 0.75]), second]), atol=1e-5)


def test_rotated_quarters_by_hand() -> None:
    x = torch.arange(8 * 4, dtype=torch.float32).view(8, 1, 2, 2)
    rotated, labels = rotated_quarters(x)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[:2], x[:2])
    # one quarter turn of [[a, b], [c, d]] (counter-clockwise) is [[b, d], [a, c]]
    a, b, c, d = x[2, 0].flatten().tolist()
    assert rotated[2, 0].tolist() == [[b, d], [a, c]]
    assert torch.equal(rotated[4:6], x[4:6].flip(2, 3))
    with pytest.raises(SemimixError, match="rotation_weight: 0"):
        rotated_quarters(torch.zeros(8, 5))


def test_the_guess_is_aligned_with_the_earlier_batches_then_sharpened() -> None:
    """Identity model: the inputs are the logits. Batch 1 meets the uniform history, so its guess is
    sharpened only; batch 2 is aligned with the mean of the two stored marginals (uniform, batch 1's)."""
    method = build_method("remixmatch", {"alignment_batches": 2, "rotation_weight": 0.0, "augmentations": 1})
    ctx = StepContext(nn.Identity(), None, num_classes=2, class_prior=torch.tensor([0.5, 0.5]))
    first = torch.tensor([[0.8, 0.2], [0.6, 0.4]])
    assert torch.allclose(method.guess(first.log(), ctx), sharpen(first, 0.5))
    assert torch.allclose(method.state_dict()["model_marginals"], torch.tensor([[0.5, 0.5], [0.7, 0.3]]))
    second = torch.tensor([[0.5, 0.5]])
    marginal = torch.tensor([0.6, 0.4])  # mean of [0.5, 0.5] and [0.7, 0.3]
    expected = sharpen(align_distribution(second, torch.tensor([0.5, 0.5]), marginal), 0.5)
    assert torch.allclose(method.guess(second.log(), ctx), expected)
    assert torch.allclose(expected, torch.tensor([[4 / 13, 9 / 13]]))  # [1/0.6, 1/0.4] ∝ [2, 3], squared and renormalised


def _image_setup(**params):
    torch.manual_seed(0)
    method = build_method("remixmatch", {"augmentations": 2, **params})
    student = build_model("mlp", (1, 4, 4), method.output_dim(3), widths=(16,), batchnorm=True)
    batch = Batch(torch.randn(8, 1, 4, 4), torch.arange(8) % 3, torch.randn(8, 1, 4, 4), torch.arange(8))
    ctx = StepContext(student, None, 3, view=lambda x: x + 0.05 * torch.randn_like(x), strong_view=lambda x: x + 0.3 * torch.randn_like(x))
    return method, student, batch, ctx


def test_on_images_every_term_trains_the_student_and_only_the_mixed_pass_updates_batchnorm() -> None:
    method, student, batch, ctx = _image_setup()
    assert method.output_dim(3) == 7
    bn = next(m for m in student.modules() if isinstance(m, nn.BatchNorm1d))
    forwards = []
    student.register_forward_hook(lambda *_: forwards.append(1))
    terms = method.losses(batch, ctx)
    assert set(terms) == {"supervised", "consistency", "pre_mixup", "rotation"}
    assert len(forwards) == 4 and int(bn.num_batches_tracked) == 1  # guess, mixed, pre-mixup, rotation
    for name, term in terms.items():
        grads = torch.autograd.grad(term, list(student.parameters()), retain_graph=True, allow_unused=True)
        assert sum(g.abs().sum() for g in grads if g is not None) > 0, name
    # the rotation term reaches the rotation outputs' weights; the class terms never do
    last = [m for m in student.modules() if isinstance(m, nn.Linear)][-1]
    (grad,) = torch.autograd.grad(terms["rotation"], [last.weight], retain_graph=True)
    assert grad[3:].abs().sum() > 0 and grad[:3].abs().sum() == 0
    (grad,) = torch.autograd.grad(terms["supervised"] + terms["consistency"], [last.weight])
    assert grad[3:].abs().sum() == 0


def test_a_network_without_the_rotation_outputs_is_refused() -> None:
    method, _, batch, ctx = _image_setup()
    ctx.student = build_model("mlp", (1, 4, 4), 3, widths=(16,))
    with pytest.raises(SemimixError, match="needs a network of 7 outputs"):
        method.losses(batch, ctx)


def test_class_scores_are_the_logits_before_the_rotation_outputs() -> None:
    assert class_scores_of(build_method("remixmatch", {"rotation_weight": 0.0}), 10) is None  # outputs are the logits
    scores = class_scores_of(build_method("remixmatch"), 10)
    assert scores is not None and scores.are_logits
    outputs = torch.randn(5, 14)
    assert torch.equal(scores(outputs), outputs[:, :10])
    cosines = class_scores_of(build_method("untied-mixup", {"loss": "nc"}), 10)
    assert cosines is not None and not cosines.are_logits


def test_a_run_evaluates_predicts_and_exports_ten_class_logits(tmp_path: Path) -> None:
    from semimix.api import load_model, load_run
    from semimix.workflows.evaluate import evaluate_run

    cfg = load_config("digits", method="remixmatch", steps=4, eval_every=2, unlabeled_batch_size=16, progress=False, out=str(tmp_path / "run"))
    cfg.method_params = {"remixmatch": {"augmentations": 2}}
    summary = train(cfg)
    assert summary["eval_model"] == "teacher" and np.isfinite(summary["test_nll"])
    report = evaluate_run(load_run(tmp_path / "run"))
    assert report["scores"] == "logits" and report["nll"] is not None and report["ece"] is not None
    model = load_model(tmp_path / "run")
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    probs = model.predict_proba(x)
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1) and model.scores_are_logits
    assert model.decision_function(x).shape == (5, 10)


def test_presets_hold_the_official_codes_settings() -> None:
    from semimix.train.config import config_from_dict, load_preset

    defaults = build_method("remixmatch").params
    assert (defaults.weight, defaults.pre_mixup_weight, defaults.rotation_weight, defaults.augmentations) == (1.5, 0.5, 0.5, 8)
    assert (defaults.temperature, defaults.alpha, defaults.alignment, defaults.alignment_batches) == (0.5, 0.75, True, 128)
    configs = Path(__file__).resolve().parent.parent / "configs"
    for name in ("remixmatch-cifar10", "remixmatch-cifar10-cpu", "remixmatch-mnist"):
        cfg = config_from_dict(load_preset(configs / f"{name}.yaml"))
        assert build_method("remixmatch", cfg.method_params["remixmatch"]).params == defaults, name
        assert cfg.labeled_batch_size == cfg.unlabeled_batch_size and cfg.data.unlabeled_includes_labeled, name
        assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.decoupled_weight_decay, cfg.optim.weight_decay_on) == (
            "adam",
            0.002,
            0.02,
            True,
            "kernels",
        ), name
        assert (cfg.rampup.shape, cfg.rampup.fraction, cfg.schedule.name) == ("linear", 1 / 64, "constant"), name


def test_your_own_network_is_asked_for_the_rotation_outputs_too(tmp_path: Path) -> None:
    asked = []

    def factory(input_shape: tuple[int, ...], outputs: int) -> nn.Module:
        asked.append(outputs)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, outputs))

    def config(name: str):
        cfg = load_config("digits", method="remixmatch", steps=2, eval_every=2, unlabeled_batch_size=8, progress=False, out=str(tmp_path / name))
        cfg.method_params = {"remixmatch": {"augmentations": 1}}
        return cfg

    train(config("factory"), model=factory)
    assert asked[0] == 14
    with pytest.raises(SemimixError, match="set its number of outputs to 14"):
        train(config("module"), model=nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
