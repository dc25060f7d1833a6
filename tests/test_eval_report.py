"""`semimix eval`: the metric functions on hand-computed cases, then the command on tiny finished
runs (JSON and reliability diagram written, numbers matching the run's own evaluation)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from semimix.api import load_config, train
from semimix.commands import evaluate as eval_command
from semimix.errors import SemimixError
from semimix.eval import (
    confusion_matrix,
    expected_calibration_error,
    per_class_accuracy,
    reliability_bins,
    top_k_accuracy,
)
from semimix.runs import load_run

# ----------------------------------------------------------------------------- the pure functions
# Four samples, three classes: confidences 0.9 (right), 0.8 (wrong: label 2), 0.6 (right), 0.55 (right).
PROBS = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.25, 0.55]])
LABELS = np.array([0, 2, 0, 2])


def test_ece_by_hand_with_shared_bins() -> None:
    # 4 bins with exact edges: 0.9 and 0.8 share (0.75, 1] → acc 1/2, conf 0.85; 0.6 and 0.55 share
    # (0.5, 0.75] → acc 1, conf 0.575. ECE = 2/4·|0.5 − 0.85| + 2/4·|1 − 0.575| = 0.175 + 0.2125.
    assert expected_calibration_error(PROBS, LABELS, bins=4) == pytest.approx(0.3875)
    rel = reliability_bins(PROBS, LABELS, bins=4)
    assert rel.edges == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert rel.counts.tolist() == [0, 0, 2, 2]
    assert rel.confidence[2:] == pytest.approx([0.575, 0.85]) and rel.accuracy[2:] == pytest.approx([1.0, 0.5])
    assert np.isnan(rel.confidence[:2]).all() and np.isnan(rel.accuracy[:2]).all()
    assert rel.to_dict()["accuracy"][:2] == [None, None] and rel.to_dict()["count"] == [0, 0, 2, 2]


def test_ece_by_hand_with_fifteen_bins() -> None:
    # Confidences 0.9, 0.81, 0.7, 0.55 fall in four different of the 15 bins (13, 12, 10, 8):
    # ECE = (|1 − 0.9| + |0 − 0.81| + |1 − 0.7| + |0 − 0.55|) / 4 = 0.44.
    probs = np.array([[0.9, 0.1], [0.81, 0.19], [0.3, 0.7], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 0])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.44)
    assert np.flatnonzero(reliability_bins(probs, labels).counts).tolist() == [8, 10, 12, 13]
    assert expected_calibration_error(torch.tensor(probs), torch.tensor(labels), 15) == pytest.approx(0.44)  # tensors too


def test_bins_are_right_closed_and_perfect_calibration_scores_zero() -> None:
    # Confidence exactly 0.75 belongs to (0.5, 0.75], and 1.0 to the last bin.
    rel = reliability_bins(np.array([[0.75, 0.25], [1.0, 0.0]]), np.array([0, 0]), bins=4)
    assert rel.counts.tolist() == [0, 0, 1, 1]
    # Two samples at confidence 0.5, one right and one wrong: accuracy equals confidence.
    assert expected_calibration_error(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 1])) == pytest.approx(0.0)
    assert math.isnan(expected_calibration_error(np.zeros((0, 3)), np.zeros(0)))
    with pytest.raises(ValueError, match="labels"):
        expected_calibration_error(PROBS, LABELS[:3])


def test_top_k_accuracy_by_hand() -> None:
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 3.0, 2.0], [1.0, 1.0, 0.0, 0.0]])
    labels = np.array([1, 3, 1])
    assert top_k_accuracy(scores, labels, 1) == pytest.approx(0.0)  # the tie in row 3 goes to class 0, like argmax
    assert top_k_accuracy(scores, labels, 2) == pytest.approx(1.0)
    assert top_k_accuracy(scores, np.array([0, 2, 0]), 1) == pytest.approx(1.0)
    # top-3 sets {0, 1, 2}, {2, 3, 1}, {0, 1, 2} (class 2 wins the 2-3 tie): labels 2 and 1 in, 3 out
    assert top_k_accuracy(torch.tensor(scores), torch.tensor([2, 1, 3]), 3) == pytest.approx(2 / 3)


def test_confusion_matrix_and_per_class_accuracy_by_hand() -> None:
    labels, predictions = np.array([0, 0, 0, 1, 1, 3]), np.array([0, 1, 0, 1, 0, 3])
    matrix = confusion_matrix(labels, predictions, 4)
    assert matrix.tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]  # rows: true class
    acc = per_class_accuracy(labels, predictions, 4)
    assert acc[[0, 1, 3]] == pytest.approx([2 / 3, 0.5, 1.0]) and np.isnan(acc[2])  # class 2 has no samples
    with pytest.raises(ValueError, match="0..3"):
        confusion_matrix(labels, np.array([0, 1, 0, 1, 0, 4]), 4)


# ----------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval-runs")
    made = {
        "digits": load_config("digits", method="ict", model="mlp", steps=6, eval_every=3, log_every=3, unlabeled_batch_size=32, progress=False),
        "moons": load_config("two-moons", method="vat", steps=4, eval_every=2, log_every=2, progress=False),
        "cosine": load_config(
            "digits",
            method="untied-mixup",
            model="mlp",
            steps=4,
            eval_every=2,
            log_every=2,
            unlabeled_batch_size=32,
            progress=False,
            method_params={"untied-mixup": {"loss": "nc", "nc_dim": 16}},
        ),
    }
    for name, cfg in made.items():
        cfg.out = str(root / name)
        train(cfg)
    return {name: root / name for name in made}


def run_eval(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    eval_command.add_parser(parser.add_subparsers(dest="command"))
    return eval_command.run(parser.parse_args(["eval", *map(str, argv)]))


def test_eval_writes_json_and_reliability_diagram(runs, capsys) -> None:
    run_dir = runs["digits"]
    assert run_eval(run_dir) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "ECE (15 bins)" in out and "top-5" in out
    report = json.loads((run_dir / "eval-test-best.json").read_text())
    assert json.loads((run_dir / "eval.json").read_text()) == report
    for key in (
        "accuracy",
        "top5_accuracy",
        "nll",
        "ece",
        "ece_bins",
        "reliability",
        "per_class_accuracy",
        "class_samples",
        "confusion_matrix",
        "class_names",
        "split",
        "checkpoint",
        "step",
        "samples",
        "reliability_diagram",
    ):
        assert key in report, key
    assert report["split"] == "test" and report["checkpoint"] == "best" and report["ece_bins"] == 15
    run = load_run(run_dir, "best")
    expected = run.evaluate("test")
    assert report["accuracy"] == pytest.approx(expected["accuracy"]) and report["nll"] == pytest.approx(expected["nll"], rel=1e-5)
    matrix = np.array(report["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == report["samples"] == len(run.data.y_test)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
    assert report["top5_accuracy"] >= report["accuracy"]
    rel = report["reliability"]
    assert sum(rel["count"]) == report["samples"] and len(rel["edges"]) == 16
    recomputed = sum(n / report["samples"] * abs(a - c) for n, a, c in zip(rel["count"], rel["accuracy"], rel["confidence"]) if n)
    assert report["ece"] == pytest.approx(recomputed)
    assert (run_dir / report["reliability_diagram"]).read_bytes()[:4] == b"\x89PNG"


def test_eval_other_split_and_checkpoint_keep_their_own_file(runs, capsys) -> None:
    run_dir = runs["moons"]
    assert run_eval(run_dir) == 0
    assert run_eval(run_dir, "--split", "val", "--checkpoint", "last") == 0
    capsys.readouterr()
    other = json.loads((run_dir / "eval-val-last.json").read_text())
    assert other["split"] == "val" and other["checkpoint"] == "last" and (run_dir / "reliability-val-last.png").exists()
    assert json.loads((run_dir / "eval.json").read_text())["split"] == "test"  # the default's file is untouched
    assert other["top5_accuracy"] is None and len(other["per_class_accuracy"]) == 2  # two classes: no top-5
    assert other["accuracy"] == pytest.approx(load_run(run_dir, "last").evaluate("val")["accuracy"])


def test_eval_of_a_negative_cosine_run_has_no_probabilities(runs, tmp_path: Path, capsys) -> None:
    assert run_eval(runs["cosine"], "--out", tmp_path / "elsewhere") == 0
    assert "NLL             n/a" in capsys.readouterr().out
    report = json.loads((tmp_path / "elsewhere" / "eval.json").read_text())
    assert report["nll"] is None and report["ece"] is None and report["reliability"] is None and report["reliability_diagram"] is None
    assert not list((tmp_path / "elsewhere").glob("*.png"))
    assert report["accuracy"] == pytest.approx(load_run(runs["cosine"]).evaluate("test")["accuracy"])


def test_eval_bad_input_is_one_clear_error(runs, tmp_path: Path) -> None:
    with pytest.raises(SemimixError, match="not a semimix run"):
        run_eval(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SemimixError, match="cannot write"):
        run_eval(runs["moons"], "--out", blocker / "sub")
    no_val = tmp_path / "no-val"
    data = {"dataset": "digits", "labels": 100, "val_size": 0}
    train(load_config("digits", method="supervised", model="mlp", steps=2, eval_every=2, progress=False, out=str(no_val), data=data))
    with pytest.raises(SemimixError, match="no val split"):
        run_eval(no_val, "--split", "val")


def test_eval_on_the_training_samples_before_augmentation(runs, tmp_path: Path, capsys) -> None:
    """--split labeled / unlabeled score the run's own training samples (clean) against their labels:
    the fit of the labeled set and the transductive accuracy on the unlabeled pool."""
    run_dir = runs["digits"]
    run = load_run(run_dir, "best")
    for split, (x, y) in (("labeled", (run.data.x_labeled, run.data.y_labeled)), ("unlabeled", (run.data.x_unlabeled, run.data.y_unlabeled_true))):
        assert run_eval(run_dir, "--split", split) == 0
        report = json.loads((run_dir / f"eval-{split}-best.json").read_text())
        predicted = run.class_scores(run.logits(x)).argmax(dim=1)
        assert report["split"] == split and report["samples"] == len(y)
        assert report["accuracy"] == pytest.approx((predicted == torch.as_tensor(y)).float().mean().item())
    assert json.loads((run_dir / "eval-labeled-best.json").read_text())["samples"] == 100
    capsys.readouterr()

    rng = np.random.default_rng(0)  # a user's file whose unlabeled rows carry no labels (-1)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.where(np.arange(60) < 20, np.arange(60) % 2, -1)
    np.savez(tmp_path / "mine.npz", X=x, y=y)
    mine = tmp_path / "mine-run"
    data = {"dataset": str(tmp_path / "mine.npz"), "labels": "all", "val_size": 0, "test_size": 10}
    train(load_config(None, method="supervised", model="mlp", steps=2, eval_every=2, progress=False, out=str(mine), data=data))
    with pytest.raises(SemimixError, match="unlabeled samples have no known labels; choose another --split"):
        run_eval(mine, "--split", "unlabeled")
    assert run_eval(mine, "--split", "labeled") == 0
