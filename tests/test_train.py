"""The training loop: run files, exact resume, schedules, streams, the EMA teacher, config overrides."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from semimix import files
from semimix.api import load_config, train
from semimix.errors import SemimixError
from semimix.train.config import RampConfig, ScheduleConfig, apply_override, config_from_dict
from semimix.train.ema import ema_update, make_teacher
from semimix.train.resume import resume_trainer
from semimix.train.schedules import lr_factor, ramp_factor
from semimix.train.streams import IndexStream


def digits_config(tmp_path: Path, method: str = "advmixup", steps: int = 12, **extra):
    return load_config(
        "digits",
        method=method,
        steps=steps,
        eval_every=4,
        log_every=2,
        progress=False,
        out=str(tmp_path / "run"),
        unlabeled_batch_size=32,
        **extra,
    )


def test_run_directory_holds_everything_a_user_looks_at(tmp_path: Path) -> None:
    summary = train(digits_config(tmp_path))
    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.pt").exists() and (run / "checkpoints" / "best.pt").exists()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["method"] == "advmixup" and saved["steps"] == 12
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]
    assert {"loss", "supervised", "consistency", "lr", "val_accuracy"} <= set(rows[0])
    assert rows[1]["val_accuracy"] != "" and rows[0]["val_accuracy"] == ""
    on_disk = json.loads((run / "summary.json").read_text())
    for key in (
        "method",
        "dataset",
        "model",
        "labels",
        "seed",
        "steps",
        "test_accuracy",
        "test_nll",
        "best_val_accuracy",
        "wall_time_s",
        "train_samples_per_s",
        "semimix_version",
    ):
        assert key in on_disk, key
    assert 0 <= on_disk["test_accuracy"] <= 1 and on_disk["labels"] == 100 and on_disk["steps"] == 12
    # what the same-seed-same-numbers promise depends on
    assert on_disk["threads"] == torch.get_num_threads() and on_disk["torch_version"] == torch.__version__
    assert on_disk["hardware"] and on_disk["hardware"] != "unknown CPU"
    assert summary["run_dir"] == str(run)
    assert not list(run.rglob("*.tmp")), "a temp file was left behind"


@pytest.mark.parametrize(
    "method, params",
    [
        ("advmixup", {}),
        ("mean-teacher", {}),
        ("vat", {}),
        # an independent second labeled stream and a negative-cosine head
        ("untied-mixup", {"pairing": "independent", "loss": "nc", "nc_dim": 16}),
    ],
)
def test_resume_reaches_the_same_weights_bit_for_bit(tmp_path: Path, method: str, params: dict) -> None:
    extra = {"method_params": {method: params}}
    full = train(digits_config(tmp_path / "a", method, **extra))
    partial = train(digits_config(tmp_path / "b", method, **extra), until_step=6)
    assert partial["steps"] == 6 and not (tmp_path / "b" / "run" / "summary.json").exists()
    trainer = resume_trainer(tmp_path / "b" / "run")
    assert trainer.step == 6
    trainer.run()
    reference = files.load_torch(tmp_path / "a" / "run" / "checkpoints" / "last.pt")
    resumed = files.load_torch(tmp_path / "b" / "run" / "checkpoints" / "last.pt")
    for part in ("student", "teacher"):
        if reference[part] is None:
            continue
        for key, value in reference[part].items():
            assert torch.equal(value, resumed[part][key]), f"{part}.{key} differs after resume"
    rows = list(csv.DictReader((tmp_path / "b" / "run" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12], "resume duplicated or lost metric rows"
    resumed_summary = json.loads((tmp_path / "b" / "run" / "summary.json").read_text())
    assert full["test_accuracy"] == resumed_summary["test_accuracy"]
    assert (full["test_nll"] is None) == (params.get("loss") == "nc"), "NLL of cosine scores is not a likelihood"


def test_resume_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(SemimixError, match="no such directory"):
        resume_trainer(tmp_path / "missing")
    with pytest.raises(SemimixError, match="not a semimix run"):
        resume_trainer(tmp_path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(config_from_dict({"data": {"dataset": "digits"}}).to_dict()))
    (run / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SemimixError, match="damaged"):
        resume_trainer(run)


def test_lr_schedules_by_hand() -> None:
    cosine = ScheduleConfig(name="cosine")
    assert lr_factor(0, 100, cosine) == 1.0
    assert lr_factor(50, 100, cosine) == pytest.approx(0.5)  # 0.5·(1 + cos(π/2))
    assert lr_factor(100, 100, cosine) == pytest.approx(0.0)
    ict_like = ScheduleConfig(name="cosine", cosine_horizon=1.125)
    assert lr_factor(100, 100, ict_like) == pytest.approx(0.5 * (1 + math.cos(math.pi / 1.125)))
    step = ScheduleConfig(name="step", milestones=[10, 20], gamma=0.1)
    assert [lr_factor(s, 30, step) for s in (9, 10, 20)] == pytest.approx([1.0, 0.1, 0.01])
    warm = ScheduleConfig(name="constant", warmup_steps=4)
    assert [lr_factor(s, 30, warm) for s in (0, 3, 10)] == pytest.approx([0.25, 1.0, 1.0])
    with pytest.raises(SemimixError, match="unknown schedule"):
        lr_factor(0, 10, ScheduleConfig(name="exp"))


def test_rampups_by_hand() -> None:
    sigmoid = RampConfig(shape="sigmoid", fraction=0.5)
    assert ramp_factor(0, 100, sigmoid) == pytest.approx(math.exp(-5))
    assert ramp_factor(25, 100, sigmoid) == pytest.approx(math.exp(-5 * 0.25))
    assert ramp_factor(80, 100, sigmoid) == 1.0
    assert ramp_factor(25, 100, RampConfig(shape="linear", fraction=0.5)) == pytest.approx(0.5)
    assert ramp_factor(0, 100, RampConfig(shape="none")) == 1.0


def test_index_stream_covers_each_epoch_and_resumes() -> None:
    stream = IndexStream(10, 4, seed=3)
    first_epoch = torch.cat([stream.next() for _ in range(5)])  # 20 indices = two epochs
    assert sorted(first_epoch[:10].tolist()) == list(range(10))
    assert sorted(first_epoch[10:].tolist()) == list(range(10))
    state = stream.state_dict()
    ahead = [stream.next() for _ in range(3)]
    stream.load_state_dict(state)
    assert all(torch.equal(a, stream.next()) for a in ahead)


def test_ema_update_by_hand() -> None:
    student = torch.nn.Linear(1, 1, bias=False)
    teacher = make_teacher(student)
    with torch.no_grad():
        teacher.weight.fill_(0.0)
        student.weight.fill_(1.0)
    ema_update(teacher, student, decay=0.9, step=100)  # θ_t = 0.9·0 + 0.1·1
    assert teacher.weight.item() == pytest.approx(0.1)
    ema_update(teacher, student, decay=0.9, step=0)  # warm start: decay min(1 − 1/1, 0.9) = 0 → copy
    assert teacher.weight.item() == pytest.approx(1.0)
    assert not teacher.weight.requires_grad


def test_set_overrides_and_their_errors() -> None:
    values: dict = {"method": "advmixup"}
    apply_override(values, "optim.lr=0.05")
    apply_override(values, "epsilon=2")  # a hyperparameter of the chosen method
    apply_override(values, "augment.flip=true")
    cfg = config_from_dict(values)
    assert cfg.optim.lr == 0.05 and cfg.augment.flip is True
    assert cfg.params_for_method() == {"epsilon": 2}
    with pytest.raises(SemimixError, match="key=value"):
        apply_override(values, "optim.lr")
    with pytest.raises(SemimixError, match="no parameter 'epsiln'"):
        apply_override(values, "epsiln=2")
    with pytest.raises(SemimixError, match="unknown config key 'optim.lrr'"):
        config_from_dict({"optim": {"lrr": 1}})
    with pytest.raises(SemimixError, match="steps must be int"):
        config_from_dict({"steps": "many"})


def test_a_new_run_never_writes_into_an_existing_run(tmp_path: Path) -> None:
    train(digits_config(tmp_path, steps=2))
    before = (tmp_path / "run" / "metrics.csv").read_text()
    with pytest.raises(SemimixError, match="already holds a run.*--resume"):
        train(digits_config(tmp_path, steps=2))
    assert (tmp_path / "run" / "metrics.csv").read_text() == before


@pytest.mark.parametrize("method", ["input-mixup", "manifold-mixup", "untied-mixup", "dat"])
def test_mixup_family_trains_supervised_with_all_labels(tmp_path: Path, method: str) -> None:
    cfg = digits_config(tmp_path, method, steps=4, data={"dataset": "digits", "labels": "all"})
    summary = train(cfg)
    assert summary["unlabeled"] == 0 and summary["labels"] > 1000
    assert summary["eval_model"] == "student", "no unlabeled data, so no EMA teacher to evaluate"
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert "consistency" not in rows[0], "no unlabeled data, so no consistency term"


def test_labels_all_with_an_ssl_method_that_needs_unlabeled_data(tmp_path: Path) -> None:
    with pytest.raises(SemimixError, match="needs unlabeled samples"):
        train(digits_config(tmp_path, "ict", data={"dataset": "digits", "labels": "all"}))


def test_metrics_keep_loss_columns_when_validation_comes_first(tmp_path: Path) -> None:
    train(load_config("digits", steps=6, eval_every=3, log_every=6, progress=False, out=str(tmp_path / "run"), unlabeled_batch_size=32))
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert {"loss", "supervised", "consistency"} <= set(rows[0]), rows[0].keys()
    assert [int(r["step"]) for r in rows] == [3, 6] and rows[1]["loss"] != "" and rows[0]["loss"] == ""
