"""SCAR: selection on a model whose answer is known, the paper's sensitivity/specificity arithmetic,
and the ``semimix scar`` stage on a tiny finished run (selection table, fine-tuning rounds, bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from semimix.api import load_config, train
from semimix.cli import main
from semimix.eval.selection import Selection, robust_selection, selection_stats


def boundary_model() -> torch.nn.Module:
    """Logits (x₀, −x₀): class 0 right of the line x₀ = 0, class 1 left of it."""
    model = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    return model


def test_selection_keeps_samples_far_from_the_boundary() -> None:
    """FGSM at ε = 0.1 moves x₀ by 0.1 towards the boundary: |x₀| = 0.05 crosses it, |x₀| = 1 does not."""
    x = torch.tensor([[1.0, 3.0], [-1.0, -2.0], [0.05, 0.0], [-0.05, 5.0], [0.5, 0.0]])
    for attack in ("fgsm", "pgd"):
        selection = robust_selection(boundary_model(), x, 0.1, attack=attack)
        assert selection.pseudo.tolist() == [0, 1, 0, 1, 0]
        assert selection.selected.tolist() == [True, True, False, False, True], attack
    assert robust_selection(boundary_model(), x, 0.01).selected.all()  # a small ball flips nothing
    with pytest.raises(ValueError, match="epsilon must be > 0"):
        robust_selection(boundary_model(), x, 0.0)


def test_sensitivity_and_specificity_by_hand() -> None:
    """6 samples: selected {0, 1, 2, 3} with pseudo-labels right on 0, 1, 2 → sensitivity 3/4;
    rejected {4, 5} with the pseudo-label wrong on 5 only → specificity 1/2 (eqs. 5-6)."""
    selection = Selection(pseudo=torch.tensor([0, 1, 2, 0, 1, 2]), attacked=torch.tensor([0, 1, 2, 0, 0, 0]))
    y_true = torch.tensor([0, 1, 2, 1, 1, 0])
    stats = selection_stats(selection, y_true)
    assert stats == {
        "samples": 6,
        "selected": 4,
        "rejected": 2,
        "pseudo_label_accuracy": pytest.approx(4 / 6),
        "selected_correct": 3,
        "rejected_wrong": 1,
        "sensitivity": 0.75,
        "specificity": 0.5,
    }
    assert selection_stats(selection) == {"samples": 6, "selected": 4, "rejected": 2}  # no true labels: counts only
    all_kept = selection_stats(Selection(torch.tensor([0, 1]), torch.tensor([0, 1])), torch.tensor([0, 0]))
    assert all_kept["specificity"] is None and all_kept["sensitivity"] == 0.5


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scar") / "run"
    train(
        load_config(
            "digits",
            method="pseudo-label",
            model="mlp",
            steps=20,
            eval_every=10,
            progress=False,
            out=str(out),
            unlabeled_batch_size=64,
            optim={"name": "adam", "lr": 0.01},
        )
    )
    return out


def test_select_only_table_for_several_eps(finished_run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["scar", str(finished_run), "--select-only", "--eps", "0.05,0.2,0.5"]) == 0
    printed = capsys.readouterr().out
    assert "sensitivity % (eq. 5)" in printed and "ε=0.05" in printed and "ε=0.5" in printed
    saved = json.loads((finished_run / "scar-selection-fgsm-unlabeled.json").read_text())
    counts = [r["selected"] for r in saved["results"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1], "a larger ε must select fewer samples"
    for r in saved["results"]:
        assert r["samples"] == 1158 and r["selected"] + r["rejected"] == 1158
        assert r["selected_correct"] <= r["selected"] and 0 <= r["sensitivity"] <= 1


def test_finetune_rounds_write_runs_and_stats(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "scar"
    assert main(["scar", str(finished_run), "--eps", "0.5", "--rounds", "2", "--steps", "4", "--quiet", "--out", str(out)]) == 0
    report = json.loads((out / "scar.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2] and report["method"] == "pseudo-label"
    for r in report["rounds"]:
        summary = json.loads((Path(r["run_dir"]) / "summary.json").read_text())
        assert summary["steps"] == 4 and summary["labels"] == 100 + r["selected"]
        assert r["sensitivity"] is not None and r["test_accuracy"] == summary["test_accuracy"]
    assert "round 2 (ε=0.5)" in capsys.readouterr().out
    assert main(["scar", str(finished_run), "--eps", "0.5", "--steps", "4", "--out", str(out)]) == 2  # results already there


def test_control_finetunes_the_same_way_with_nothing_added(finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The control is SCAR's fine-tuning (same steps, same start) on the 100 original labels only."""
    out = tmp_path / "control"
    assert main(["scar", str(finished_run), "--control", "--steps", "3", "--quiet", "--out", str(out)]) == 0
    report = json.loads((out / "scar.json").read_text())
    assert report["control"] is True and len(report["rounds"]) == 1
    round_1 = report["rounds"][0]
    assert round_1["selected"] == 0 and round_1["samples"] == 1158 and "sensitivity" not in round_1
    summary = json.loads((Path(round_1["run_dir"]) / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["labels"] == 100
    assert "round 1 (control)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--eps", "0"], "ε must be > 0"),
        (["--eps", "1,2"], "fine-tuning takes one ε"),
        (["--split", "test"], "--split test/val goes with --select-only"),
        (["--rounds", "0"], "--rounds must be a positive integer"),
        (["--control", "--select-only"], "does not go with --select-only"),
        (["--config", "MISSING.yaml"], "config file MISSING.yaml not found"),
    ],
)
def test_bad_settings_are_one_line_errors(finished_run: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    try:
        status = main(["scar", str(finished_run), *extra])
    except SystemExit as exc:  # argparse rejects a bad --eps before the command runs
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and message in err.strip().splitlines()[-1], err  # one line (argparse puts its usage above)


def test_runs_scar_cannot_use(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    unfinished = tmp_path / "unfinished"
    train(load_config("digits", method="pseudo-label", model="mlp", steps=10, progress=False, out=str(unfinished)), until_step=2)
    assert main(["scar", str(unfinished), "--select-only"]) == 2
    assert "has not finished training" in capsys.readouterr().err
    supervised_all = tmp_path / "all"
    all_labels = {"dataset": "digits", "labels": "all"}
    train(load_config("digits", method="supervised", model="mlp", steps=2, progress=False, out=str(supervised_all), data=all_labels))
    assert main(["scar", str(supervised_all), "--select-only"]) == 2
    assert "without unlabeled samples" in capsys.readouterr().err
    assert main(["scar", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_known_clean_predictions_give_the_same_selection() -> None:
    """--select-only passes the first ε's clean predictions to the next ε instead of predicting again."""
    x = torch.tensor([[0.05, 0.0], [-0.5, 0.3], [1.0, -1.0], [-0.02, 0.4]])
    model = boundary_model()
    first = robust_selection(model, x, 0.1)
    again = robust_selection(model, x, 0.1, pseudo=first.pseudo)
    assert torch.equal(again.pseudo, first.pseudo) and torch.equal(again.attacked, first.attacked)
    wrong = robust_selection(model, x, 0.1, pseudo=1 - first.pseudo)  # the given predictions are the ones attacked
    assert torch.equal(wrong.pseudo, 1 - first.pseudo)
