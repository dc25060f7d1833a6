"""FreeMatch and SoftMatch on hand-computed cases (thresholds and fairness, Gaussian weights and
alignment, through the method with an identity "model" whose inputs are its logits), and their running
statistics (and ReMixMatch's model marginals) surviving --resume bit-for-bit."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
import torch
from torch import nn

from semimix import files
from semimix.api import load_config, train
from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.methods.freematch import LOG_FLOOR, fairness_loss, local_thresholds
from semimix.methods.softmatch import truncated_gaussian_weights, uniform_alignment
from semimix.train.resume import resume_trainer


def _step(method_name: str, params: dict, weak_probs: list[list[float]]) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One step of the method on an identity model: the weak and strong views are the given
    probabilities' logs, so pseudo-labels, masks and weights are the hand-computed ones."""
    method = build_method(method_name, params)
    x_u = torch.tensor(weak_probs).log()
    batch = Batch(torch.zeros(1, 2), torch.tensor([0]), x_u, torch.arange(len(x_u)))
    terms = method.losses(batch, StepContext(nn.Identity(), None, num_classes=2))
    return {k: v.item() for k, v in terms.items()}, method.state_dict()


def test_freematch_thresholds_follow_the_batches_by_hand() -> None:
    """λ = 0.5, C = 2. Batch 1, weak predictions (0.9, 0.1) and (0.45, 0.55): mean confidence 0.725,
    mean prediction (0.675, 0.325), hard labels 0 and 1; from τ = p̃ = h̃ = ½:
    τ₁ = ½·½ + ½·0.725 = 0.6125, p̃₁ = (0.5875, 0.4125), h̃₁ = (½, ½); class 1's local threshold is
    0.6125·0.4125/0.5875 ≈ 0.430, so its 0.55 passes though below τ₁, and both rows count."""
    method = build_method("freematch", {"momentum": 0.5, "fairness_weight": 0.0})
    student, steps = nn.Identity(), [[[0.9, 0.1], [0.45, 0.55]], [[0.2, 0.8], [0.3, 0.7]]]
    batches = [Batch(torch.zeros(1, 2), torch.tensor([0]), torch.tensor(p).log(), torch.arange(2)) for p in steps]
    terms = method.losses(batches[0], StepContext(student, None, num_classes=2))
    state = method.state_dict()
    assert state["threshold"].item() == pytest.approx(0.6125)
    assert state["class_probs"].tolist() == pytest.approx([0.5875, 0.4125])
    assert state["label_hist"].tolist() == pytest.approx([0.5, 0.5])
    assert local_thresholds(state["threshold"], state["class_probs"]).tolist() == pytest.approx([0.6125, 0.6125 * 0.4125 / 0.5875])
    assert terms["consistency"].item() == pytest.approx(-(math.log(0.9) + math.log(0.55)) / 2, rel=1e-5)
    # Batch 2, (0.2, 0.8) and (0.3, 0.7): confidence 0.75, mean (0.25, 0.75), both labels 1.
    method.losses(batches[1], StepContext(student, None, num_classes=2))
    state = method.state_dict()
    assert state["threshold"].item() == pytest.approx(0.5 * 0.6125 + 0.5 * 0.75)
    assert state["class_probs"].tolist() == pytest.approx([0.41875, 0.58125])
    assert state["label_hist"].tolist() == pytest.approx([0.25, 0.75])


def test_freematch_rows_below_their_class_threshold_are_masked() -> None:
    """One row at 0.6 for class 0 against τ₁ = ½·½ + ½·0.75 = 0.625 (mean of 0.9 and 0.6): only the
    0.9 row's cross-entropy counts, over both rows."""
    terms, _ = _step("freematch", {"momentum": 0.5, "fairness_weight": 0.0}, [[0.9, 0.1], [0.6, 0.4]])
    assert terms["consistency"] == pytest.approx(-math.log(0.9) / 2, rel=1e-5)


def test_freematch_fairness_by_hand() -> None:
    """p̃ = (0.6, 0.4), h̃ = (0.75, 0.25): SumNorm(p̃/h̃) = SumNorm(0.8, 1.6) = (⅓, ⅔). Strong views
    (0.8, 0.2) and (0.4, 0.6) pass: p̄ = (0.6, 0.4), one hard label each, SumNorm(p̄/h̄) = (0.6, 0.4)."""
    logits = torch.tensor([[0.8, 0.2], [0.4, 0.6], [0.9, 0.1]]).log()
    p_model, hist = torch.tensor([0.6, 0.4]), torch.tensor([0.75, 0.25])
    value = fairness_loss(logits, torch.tensor([1.0, 1.0, 0.0]), p_model, hist)
    assert value.item() == pytest.approx(math.log(0.6) / 3 + 2 * math.log(0.4) / 3, rel=1e-5)
    # Rows 0 and 2 both predict class 0: class 1's bin is empty, SumNorm(p̄/h̄) = (1, 0), and the log floors.
    one_class = fairness_loss(logits, torch.tensor([1.0, 0.0, 1.0]), p_model, hist)
    assert one_class.item() == pytest.approx(2 * math.log(LOG_FLOOR) / 3, rel=1e-5)
    assert fairness_loss(logits, torch.zeros(3), p_model, hist).item() == 0.0  # nothing passed


def test_softmatch_truncated_gaussian_by_hand() -> None:
    """μ = 0.6, σ² = 0.04: 0.8 and 0.6 weigh 1; 0.5 is 0.1 below, exp(−0.01·n²/0.08); 0.2: exp(−0.16·n²/0.08)."""
    confidence, mean, var = torch.tensor([0.8, 0.6, 0.5, 0.2]), torch.tensor(0.6), torch.tensor(0.04)
    expected_2 = [1.0, 1.0, math.exp(-0.5), math.exp(-8.0)]
    assert truncated_gaussian_weights(confidence, mean, var, 2.0).tolist() == pytest.approx(expected_2, rel=1e-5)
    assert truncated_gaussian_weights(confidence, mean, var, 1.0).tolist() == pytest.approx([1.0, 1.0, math.exp(-0.125), math.exp(-2.0)], rel=1e-5)


def test_softmatch_uniform_alignment_by_hand() -> None:
    """p̂ = (0.8, 0.2): (0.7, 0.3) → (0.875, 1.5)/2.375; (0.2, 0.8) → (0.25, 4)/4.25."""
    aligned = uniform_alignment(torch.tensor([[0.7, 0.3], [0.2, 0.8]]), torch.tensor([0.8, 0.2]))
    assert torch.allclose(aligned, torch.tensor([[0.875 / 2.375, 1.5 / 2.375], [0.25 / 4.25, 4 / 4.25]]), atol=1e-5)


def test_softmatch_step_by_hand() -> None:
    """m = 0.5, weak predictions (0.9, 0.1), (0.55, 0.45), (0.65, 0.35): p̂ starts at their mean (0.7, 0.3);
    aligned, their confidences are 27/34, 21/32 (now class 1) and 49/88; μ₁ = ½·½ + ½·mean, σ²₁ = ½·1 +
    ½·var (unbiased). Rows 0, 1 are above μ₁ (weight 1), row 2 just below; every hard label stays 0."""
    terms, state = _step("softmatch", {"momentum": 0.5}, [[0.9, 0.1], [0.55, 0.45], [0.65, 0.35]])
    confidence = [27 / 34, 21 / 32, 49 / 88]
    mean, var = 0.25 + 0.5 * statistics.mean(confidence), 0.5 + 0.5 * statistics.variance(confidence)
    assert state["class_probs"].tolist() == pytest.approx([0.7, 0.3])
    assert state["mean"].item() == pytest.approx(mean, abs=1e-5) and state["variance"].item() == pytest.approx(var, abs=1e-5)
    weight_2 = math.exp(-((confidence[2] - mean) ** 2) * 4 / (2 * var))
    expected = -(math.log(0.9) + math.log(0.55) + weight_2 * math.log(0.65)) / 3
    assert terms["consistency"] == pytest.approx(expected, rel=1e-5)
    unaligned, _ = _step("softmatch", {"momentum": 0.5, "uniform_alignment": False}, [[0.9, 0.1], [0.55, 0.45], [0.65, 0.35]])
    assert unaligned["consistency"] != pytest.approx(expected, rel=1e-5)


def test_softmatch_needs_two_unlabeled_samples() -> None:
    with pytest.raises(SemimixError, match="unlabeled_batch_size must be at least 2"):
        _step("softmatch", {}, [[0.9, 0.1]])


@pytest.mark.parametrize("method", ["freematch", "softmatch", "remixmatch"])
def test_running_statistics_survive_resume_bit_for_bit(tmp_path: Path, method: str) -> None:
    def config(name: str):
        out = str(tmp_path / name / "run")
        return load_config("digits", method=method, steps=6, eval_every=3, unlabeled_batch_size=64, model="mlp", progress=False, out=out)

    summary = train(config("a"))
    assert summary["eval_model"] == "teacher"
    train(config("b"), until_step=3)
    halfway = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")["method"]
    assert halfway and all(torch.isfinite(v).all() for v in halfway.values())
    resume_trainer(tmp_path / "b" / "run").run()
    reference = files.load_torch(tmp_path / "a" / "run" / "checkpoints" / "last.pt")
    resumed = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")
    assert set(reference["method"]) == set(halfway)
    for key, value in reference["method"].items():
        assert not torch.equal(value, halfway[key]), f"{key} did not move after the resume: the test would not test it"
        assert torch.equal(value, resumed["method"][key]), key
    for part in ("student", "teacher"):
        for key, value in reference[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key} differs after resume"
