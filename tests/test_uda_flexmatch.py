"""UDA and FlexMatch on hand-computed cases (sharpening, confidence mask, TSA thresholds; learning
effects with and without warm-up, the convex mapping, the order of thresholds and records), the loss
falling on a small problem, FlexMatch's per-sample record surviving --resume bit for bit, and both
training on the default digits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from semimix import files
from semimix.api import load_config, train
from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.methods.flexmatch import convex_mapping, learning_effects
from semimix.methods.uda import annealed_cross_entropy, sharpened_targets, tsa_threshold
from semimix.train.resume import resume_trainer


def _probs_as_logits(rows: list[list[float]]) -> torch.Tensor:
    return torch.log(torch.tensor(rows))


def _identity_context(num_classes: int, **extra) -> StepContext:
    """The student passes its input through, so a batch's inputs are its logits; the strong view is all
    zeros (uniform predictions)."""
    return StepContext(nn.Identity(), None, num_classes, strong_view=torch.zeros_like, **extra)


def test_uda_sharpens_the_weak_prediction_and_masks_it_strictly_above_beta() -> None:
    weak = _probs_as_logits([[0.9, 0.1], [0.6, 0.4]])
    targets, mask = sharpened_targets(weak, temperature=0.5, threshold=0.8)
    # p^(1/T) renormalised: [0.81, 0.01] / 0.82 and [0.36, 0.16] / 0.52
    assert torch.allclose(targets, torch.tensor([[81 / 82, 1 / 82], [9 / 13, 4 / 13]]), atol=1e-6)
    assert mask.tolist() == [1.0, 0.0]
    exactly = torch.softmax(weak[:1], dim=-1).max().item()
    assert sharpened_targets(weak[:1], 0.5, exactly)[1].item() == 0.0  # at β itself: out (the paper's ">")


def test_uda_consistency_is_the_masked_kl_to_the_sharpened_target_over_the_whole_batch() -> None:
    method = build_method("uda", {"temperature": 0.5, "threshold": 0.8})
    x_u = _probs_as_logits([[0.9, 0.1], [0.6, 0.4]])
    terms = method.losses(Batch(_probs_as_logits([[0.5, 0.5]]), torch.tensor([0]), x_u, torch.arange(2)), _identity_context(2))
    t = torch.tensor([81 / 82, 1 / 82])
    kl = (t * torch.log(t / 0.5)).sum().item()  # the strong view predicts [½, ½]
    assert terms["consistency"].item() == pytest.approx(kl / 2, rel=1e-5)  # the masked row stays in the mean
    assert terms["supervised"].item() == pytest.approx(math.log(2), rel=1e-6)  # TSA off: plain CE


def test_tsa_thresholds_by_hand() -> None:
    # η = α(1 − 1/K) + 1/K, K = 10, halfway: α = 0.5, 1 − e^−2.5, e^−2.5
    assert tsa_threshold("linear", 0.5, 10) == pytest.approx(0.55)
    assert tsa_threshold("log", 0.5, 10) == pytest.approx((1 - math.exp(-2.5)) * 0.9 + 0.1)
    assert tsa_threshold("exp", 0.5, 10) == pytest.approx(math.exp(-2.5) * 0.9 + 0.1)
    assert tsa_threshold("linear", 0.0, 10) == pytest.approx(0.1) and tsa_threshold("log", 0.0, 10) == pytest.approx(0.1)
    assert tsa_threshold("linear", 1.0, 10) == pytest.approx(1.0) and tsa_threshold("exp", 1.0, 10) == pytest.approx(1.0)
    assert tsa_threshold("log", 1.0, 10) == pytest.approx((1 - math.exp(-5)) * 0.9 + 0.1)  # the log schedule ends at 0.993


def test_tsa_drops_the_labeled_samples_fitted_above_eta_from_the_loss_and_its_mean() -> None:
    logits = _probs_as_logits([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    labels = torch.tensor([0, 0, 0])  # p(true) = 0.9, 0.2, 0.7; η = 0.75 keeps rows 1 and 2
    expected = (-math.log(0.2) - math.log(0.7)) / 2
    assert annealed_cross_entropy(logits, labels, 0.75).item() == pytest.approx(expected, rel=1e-5)
    assert annealed_cross_entropy(logits, labels, 0.1).item() == 0.0  # every row fitted: no term, no NaN
    # through the method at half the run, K = 2, linear: η = 0.5·0.5 + 0.5 = 0.75
    method = build_method("uda", {"tsa": "linear"})
    batch = Batch(logits, labels, _probs_as_logits([[0.5, 0.5]]), torch.arange(1))
    assert method.losses(batch, _identity_context(2, progress=0.5))["supervised"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(SemimixError, match="uda.tsa='linear' .*set uda.tsa to none") as err:
        method.losses(batch, _identity_context(2))
    assert "\n" not in str(err.value)


def test_flexmatch_learning_effects_with_and_without_warmup_by_hand() -> None:
    # ten samples, three classes, counted from 1: σ = [3, 1, 0], six never above τ
    latest = torch.tensor([1, 1, 1, 2, 0, 0, 0, 0, 0, 0])
    assert torch.allclose(learning_effects(latest, 3, warmup=True), torch.tensor([3 / 6, 1 / 6, 0.0]))  # over max(3, 6)
    assert torch.allclose(learning_effects(latest, 3, warmup=False), torch.tensor([1.0, 1 / 3, 0.0]))  # over max σ = 3
    nothing = torch.zeros(10, dtype=torch.long)
    assert learning_effects(nothing, 3, warmup=True).tolist() == learning_effects(nothing, 3, warmup=False).tolist() == [0.0] * 3
    # M(x) = x / (2 − x)
    assert torch.allclose(convex_mapping(torch.tensor([0.0, 1 / 6, 1 / 3, 0.5, 1.0])), torch.tensor([0.0, 1 / 11, 1 / 5, 1 / 3, 1.0]))


def test_flexmatch_thresholds_come_from_the_record_before_the_batch_which_then_joins_it() -> None:
    """Without warm-up, σ = [3, 1, 0] makes the thresholds 0.9·M([1, ⅓, 0]) = [0.9, 0.18, 0]: a class-0
    prediction at 0.5 fails, class-1 and class-2 ones at 0.5 pass; the 0.95 one passes and is recorded."""
    method = build_method("flexmatch", {"threshold": 0.9, "warmup": False})
    before = torch.tensor([1, 1, 1, 2, 0, 0, 0, 0, 0, 0])
    method.load_state_dict({"latest": before.clone()})
    x_u = _probs_as_logits([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5], [0.025, 0.025, 0.95]])
    idx = torch.tensor([4, 5, 6, 0])
    terms = method.losses(Batch(x_u[:1], torch.tensor([0]), x_u, idx), _identity_context(3, num_unlabeled=10))
    assert terms["consistency"].item() == pytest.approx(3 * math.log(3) / 4, rel=1e-5)  # three pass, uniform strong view
    after = before.clone()
    after[0] = 3  # class 2, counted from 1; rows 4–6 stay unrecorded (0.5 < τ)
    assert torch.equal(method.state_dict()["latest"], after)


def test_flexmatch_starts_with_every_prediction_counting() -> None:
    """Nothing recorded: every threshold is τ·M(0) = 0, so the whole batch trains (the warm-up's start)."""
    method = build_method("flexmatch")
    x_u = _probs_as_logits([[0.4, 0.3, 0.3], [0.3, 0.4, 0.3]])
    terms = method.losses(Batch(x_u[:1], torch.tensor([0]), x_u, torch.arange(2)), _identity_context(3, num_unlabeled=5))
    assert terms["consistency"].item() == pytest.approx(math.log(3), rel=1e-5)
    assert method.state_dict()["latest"].tolist() == [0] * 5


def _digits_config(tmp_path: Path, method: str, **extra):
    values = {"steps": 6, "eval_every": 3, "log_every": 1, "progress": False, "out": str(tmp_path / "run"), **extra}
    return load_config("digits", method=method, **values)


def test_flexmatch_record_survives_resume_bit_for_bit(tmp_path: Path) -> None:
    # τ = 0.13: an MLP on digits predicts at most ~0.14-0.16 in its first steps; 500 of the 1158 unlabeled per step.
    # Without warm-up the few records already set thresholds up to τ, so the weights depend on them too (with it,
    # thresholds of ~0.002 let every prediction through, and a resume that lost the record trains the same weights).
    extra = {"model": "mlp", "unlabeled_batch_size": 500, "method_params": {"flexmatch": {"threshold": 0.13, "warmup": False}}}
    train(_digits_config(tmp_path / "a", "flexmatch", **extra))
    train(_digits_config(tmp_path / "b", "flexmatch", **extra), until_step=3)
    halfway = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")["method"]["latest"]
    assert int((halfway > 0).sum()) > 0, "nothing recorded before the resume: the test would not test the thresholds"
    resume_trainer(tmp_path / "b" / "run").run()
    reference = files.load_torch(tmp_path / "a" / "run" / "checkpoints" / "last.pt")
    resumed = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")
    assert not torch.equal(reference["method"]["latest"], halfway), "nothing recorded after the resume"
    assert torch.equal(reference["method"]["latest"], resumed["method"]["latest"])
    for part in ("student", "teacher"):
        for key, value in reference[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key} differs after resume"


@pytest.mark.parametrize("method", ["uda", "flexmatch"])
def test_trains_on_the_default_digits_and_evaluates_the_ema_model(tmp_path: Path, method: str) -> None:
    summary = train(_digits_config(tmp_path, method, unlabeled_batch_size=32))
    assert summary["steps"] == 6 and summary["eval_model"] == "teacher"


def test_presets_hold_the_official_codes_settings() -> None:
    from semimix.train.config import config_from_dict, load_preset

    uda, flexmatch = build_method("uda").params, build_method("flexmatch").params  # the defaults are the papers' too
    assert (uda.weight, uda.temperature, uda.threshold, uda.tsa) == (1.0, 0.4, 0.8, "none")
    assert (flexmatch.weight, flexmatch.threshold, flexmatch.warmup) == (1.0, 0.95, True)
    configs = Path(__file__).resolve().parent.parent / "configs"
    for name in ("uda-cifar10", "uda-mnist"):
        cfg = config_from_dict(load_preset(configs / f"{name}.yaml"))
        params = build_method("uda", cfg.method_params["uda"]).params
        assert (params.temperature, params.threshold, params.weight, params.tsa) == (0.4, 0.8, 1.0, "none")
        assert cfg.optim.weight_decay_on == "all" and cfg.data.unlabeled_includes_labeled  # decay_weights: every variable
    for name in ("flexmatch-cifar10", "flexmatch-mnist"):
        cfg = config_from_dict(load_preset(configs / f"{name}.yaml"))
        params = build_method("flexmatch", cfg.method_params["flexmatch"]).params
        assert (params.threshold, params.weight, params.warmup) == (0.95, 1.0, True)
        assert cfg.optim.weight_decay_on == "kernels" and cfg.data.unlabeled_includes_labeled  # bn_wd_skip
    assert config_from_dict(load_preset(configs / "uda-cifar10.yaml")).ema_decay == 0.9999
