"""Temporal Ensembling, MixMatch and FixMatch on hand-computed cases, and in the trainer: the strong
view (of uint8 and float images, and of feature vectors), EMA-model evaluation, and the ensemble
surviving --resume bit-for-bit."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from semimix import files
from semimix.api import load_config, train
from semimix.data import load_dataset
from semimix.data.preprocess import build_preprocess
from semimix.errors import SemimixError
from semimix.methods import Batch, StepContext, build_method
from semimix.methods.mixmatch import mixmatch_mixup
from semimix.methods.temporal_ensembling import corrected_targets
from semimix.models import build_model
from semimix.ops import confident_pseudo_labels, dominant_lambda, masked_cross_entropy
from semimix.train.resume import resume_trainer
from semimix.train.trainer import Trainer


def test_dominant_lambda_by_hand() -> None:
    assert torch.allclose(dominant_lambda(torch.tensor([0.3, 0.5, 0.9, 0.0])), torch.tensor([0.7, 0.5, 0.9, 1.0]))


def test_mixmatch_mixup_by_hand() -> None:
    """Rows 0, 1 swap partners; λ = 0.2 becomes λ' = 0.8, λ = 0.9 stays: each row keeps its own side."""
    x = torch.tensor([[0.0], [10.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x_mixed, t_mixed = mixmatch_mixup(x, targets, torch.tensor([0.2, 0.9]), torch.tensor([1, 0]))
    assert torch.allclose(x_mixed, torch.tensor([[2.0], [9.0]]))  # 0.8·0 + 0.2·10, 0.9·10 + 0.1·0
    assert torch.allclose(t_mixed, torch.tensor([[0.8, 0.2], [0.1, 0.9]]))


def test_mixmatch_guesses_sharpened_mean_of_k_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """With identity views the guess is sharpen(softmax(f(x_u)), T); with λ = 0 (so λ' = 1) every row
    keeps its own input and target, so the consistency term is exactly the MSE against that guess."""
    import semimix.methods.mixmatch as mixmatch

    monkeypatch.setattr(mixmatch, "sample_lambda", lambda alpha, n, device: torch.zeros(n, device=device))
    torch.manual_seed(0)
    student = build_model("mlp", (2,), 3, widths=(8,))
    method = build_method("mixmatch", {"weight": 1.0, "temperature": 0.5, "augmentations": 2})
    batch = Batch(torch.randn(4, 2), torch.tensor([0, 1, 2, 0]), torch.randn(5, 2), torch.arange(5))
    terms = method.losses(batch, StepContext(student, None, 3))
    with torch.no_grad():
        probs = torch.softmax(student(batch.x_u), dim=-1)
        guess = probs**2 / (probs**2).sum(1, keepdim=True)
    assert terms["consistency"].item() == pytest.approx((probs - guess).pow(2).mean().item(), rel=1e-4)


def test_fixmatch_mask_and_denominator_by_hand() -> None:
    """Two of four weak predictions reach τ = 0.95; the loss sums their CE and divides by all four."""
    weak = torch.tensor([[10.0, 0.0], [0.0, 10.0], [0.1, 0.0], [0.0, 0.2]])
    pseudo, mask = confident_pseudo_labels(weak, 0.95)
    assert pseudo.tolist() == [0, 1, 0, 1] and mask.tolist() == [1.0, 1.0, 0.0, 0.0]
    strong = torch.tensor([[0.0, 0.0], [0.0, 0.0], [5.0, -5.0], [1.0, 2.0]])
    assert masked_cross_entropy(strong, pseudo, mask).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item() / 4)
    assert confident_pseudo_labels(torch.tensor([[torch.log(torch.tensor(19.0)), 0.0]]), 0.95)[1].item() == 1.0  # p = 0.95 exactly: kept (>=)


def test_fixmatch_uses_one_forward_of_labeled_weak_and_strong() -> None:
    torch.manual_seed(0)
    student = build_model("mlp", (2,), 2, widths=(8,), batchnorm=True)
    seen: list[int] = []
    student.register_forward_pre_hook(lambda m, inputs: seen.append(len(inputs[0])))
    batch = Batch(torch.randn(3, 2), torch.tensor([0, 1, 0]), torch.randn(7, 2), torch.arange(7))
    build_method("fixmatch").losses(batch, StepContext(student, None, 2, strong_view=lambda x: x + 1.0))
    assert seen == [3 + 7 + 7]


def test_temporal_ensembling_bias_correction_by_hand() -> None:
    """α = 0.6: after one update with p, Z = 0.4p and z̃ = 0.4p / (1 − 0.6) = p; after p then q,
    Z = 0.24p + 0.4q and z̃ = Z / 0.64; a sample never updated has no target (mask 0)."""
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])
    ensemble = torch.stack([0.4 * p, 0.24 * p + 0.4 * q, torch.zeros(2)])
    target, seen = corrected_targets(ensemble, torch.tensor([1, 2, 0]), 0.6)
    assert torch.allclose(target[0], p) and torch.allclose(target[1], (0.24 * p + 0.4 * q) / 0.64)
    assert seen.tolist() == [1.0, 1.0, 0.0] and torch.equal(target[2], torch.zeros(2))


def test_temporal_ensembling_updates_only_the_batch_rows() -> None:
    torch.manual_seed(0)
    method = build_method("temporal-ensembling", {"alpha": 0.6})
    student = build_model("mlp", (2,), 3, widths=(8,))
    x_u = torch.randn(4, 2)
    ctx = StepContext(student, None, 3, num_unlabeled=10)
    terms = method.losses(Batch(torch.randn(2, 2), torch.tensor([0, 1]), x_u, torch.tensor([7, 2, 5, 0])), ctx)
    assert terms["consistency"].item() == 0.0  # no targets before the first visit
    state = method.state_dict()
    assert state["updates"].tolist() == [1, 0, 1, 0, 0, 1, 0, 1, 0, 0]
    with torch.no_grad():
        probs = torch.softmax(student(x_u), dim=-1)
    assert torch.allclose(state["ensemble"][[7, 2, 5, 0]], 0.4 * probs, atol=1e-6)


def _digits_config(tmp_path: Path, method: str, steps: int = 8, **extra):
    return load_config("digits", method=method, steps=steps, eval_every=4, log_every=2, progress=False, out=str(tmp_path / "run"), **extra)


def test_temporal_ensembling_state_survives_resume_bit_for_bit(tmp_path: Path) -> None:
    # 500 unlabeled per step over 1158 samples: targets exist before and after the resume at step 3.
    extra = {"unlabeled_batch_size": 500, "model": "mlp", "steps": 6}
    train(_digits_config(tmp_path / "a", "temporal-ensembling", **extra))
    train(_digits_config(tmp_path / "b", "temporal-ensembling", **extra), until_step=3)
    halfway = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")["method"]
    assert int(halfway["updates"].max()) >= 1
    resume_trainer(tmp_path / "b" / "run").run()
    reference = files.load_torch(tmp_path / "a" / "run" / "checkpoints" / "last.pt")
    resumed = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")
    assert int(reference["method"]["updates"].max()) >= 2, "no sample was revisited: the test would not test the targets"
    for key in ("ensemble", "updates"):
        assert torch.equal(reference["method"][key], resumed["method"][key]), key
    for part in ("student", "teacher"):
        for key, value in reference[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key} differs after resume"


def _uint8_digits(seed: int = 0):
    """scikit-learn's digits as raw 0..255 images with a standardize preprocess, like the image benchmarks."""
    data = load_dataset(load_config("digits", data={"dataset": "digits", "normalize": False}).data, seed)
    raw = {name: (getattr(data, name) * 255).round().to(torch.uint8) for name in ("x_labeled", "x_unlabeled", "x_val", "x_test")}
    return dataclasses.replace(data, **raw, preprocess=build_preprocess("standardize", [raw["x_labeled"], raw["x_unlabeled"]]))


@pytest.mark.parametrize("method", ["fixmatch", "mixmatch"])
def test_trainer_gives_the_strong_view_and_evaluates_the_ema_model(tmp_path: Path, method: str) -> None:
    cfg = _digits_config(tmp_path, method, steps=3, unlabeled_batch_size=16, augment={"translate": 1, "pad_mode": "reflect"})
    trainer = Trainer(cfg, data=_uint8_digits())
    assert trainer.eval_name == "teacher" and trainer.teacher is not None
    if method == "fixmatch":
        x = trainer.data.x_unlabeled[:4].to(trainer.device)
        torch.manual_seed(0)
        strong = trainer.strong_view(x)
        assert strong.shape == (4, 1, 8, 8) and not torch.equal(strong, trainer.view(x))
    summary = trainer.run()
    assert summary["eval_model"] == "teacher" and summary["steps"] == 3


def _assert_finite_losses(run_dir: str) -> None:
    with open(Path(run_dir) / "metrics.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f) if row["loss"]]
    assert losses and all(math.isfinite(loss) for loss in losses), losses


def test_fixmatch_trains_on_the_default_digits(tmp_path: Path) -> None:
    """The default job's digits are float images stored standardised: their known 0..16 range places
    RandAugment's 0..255 levels, and the strong view stays within black..white."""
    trainer = Trainer(_digits_config(tmp_path, "fixmatch", steps=6, unlabeled_batch_size=32))
    x = trainer.data.x_unlabeled[:16]
    (low,), (high,) = trainer.data.pixel_bounds()
    torch.manual_seed(0)
    strong = trainer.strong_view(x)
    assert strong.shape == x.shape and not torch.allclose(strong, x)
    assert low - 1e-5 <= strong.min() and strong.max() <= high + 1e-5
    trainer.run()
    _assert_finite_losses(str(trainer.run_dir))


def test_fixmatch_trains_on_feature_vectors(tmp_path: Path) -> None:
    cfg = load_config("two-moons", method="fixmatch", steps=30, eval_every=10, log_every=5, progress=False, out=str(tmp_path / "run"))
    summary = train(cfg)
    _assert_finite_losses(summary["run_dir"])
    assert summary["test_accuracy"] > 0.6  # two classes; ~0.84 at 30 steps


def test_float_images_without_a_known_range_have_no_strong_view(tmp_path: Path) -> None:
    digits = load_digits()  # [0, 1] floats, then standardised: where black and white lie is lost
    np.savez(tmp_path / "images.npz", X=digits.images[:, None] / 16.0, y=digits.target)
    cfg = _digits_config(tmp_path, "fixmatch", data={"dataset": str(tmp_path / "images.npz"), "labels": 20})
    with pytest.raises(SemimixError, match="strong view .* needs images whose raw pixel range is known") as err:
        Trainer(cfg)
    assert "\n" not in str(err.value)


def test_methods_without_unlabeled_data_say_so(tmp_path: Path) -> None:
    for method in ("temporal-ensembling", "mixmatch"):
        with pytest.raises(SemimixError, match="needs unlabeled samples"):
            train(_digits_config(tmp_path, method, data={"dataset": "digits", "labels": "all"}))
