"""The one rule for reduced budgets (semimix.train.budget) and `extends:` presets: a full preset keeps its
paper's absolute time constants, a shorter run gets them scaled or capped as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from semimix.errors import SemimixError
from semimix.train.budget import capped_horizon, scale_batchnorm, scaled_batchnorm_horizon, time_constants
from semimix.train.config import config_from_dict, load_preset
from semimix.train.schedules import lr_factor

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
FULL_PRESETS = sorted(p for p in CONFIG_DIR.glob("*.yaml") if (CONFIG_DIR / f"{p.stem}-cpu.yaml").exists())


def _cfg(**values):
    return config_from_dict(values)


@pytest.mark.parametrize("path", FULL_PRESETS, ids=lambda p: p.stem)
def test_a_full_preset_at_its_budget_keeps_the_papers_absolute_values(path: Path) -> None:
    cfg = config_from_dict(load_preset(path))
    tc = time_constants(cfg)
    assert cfg.budget.reference_steps == cfg.steps
    assert (tc.schedule_steps, list(tc.milestones), tc.warmup_steps, tc.ema_decay, tc.bn_horizon_scale) == (
        cfg.steps,
        cfg.schedule.milestones,
        cfg.schedule.warmup_steps,
        cfg.ema_decay,
        None,
    )
    # the rule is continuous at the full budget: the paper's horizons are inside the cap there
    ema_horizon = 1 / (1 - cfg.ema_decay)
    assert capped_horizon(ema_horizon, cfg.steps, cfg.budget.ema_horizon_fraction) == ema_horizon
    assert scaled_batchnorm_horizon(1000.0, cfg.steps / cfg.budget.reference_steps) == 1000.0  # WRN's BN momentum 0.001


def test_scale_moves_schedule_points_in_proportion_and_caps_horizons() -> None:
    cfg = _cfg(
        steps=1000,
        ema_decay=0.999,
        schedule={"name": "step", "milestones": [50000, 75000], "warmup_steps": 4000},
        budget={"reference_steps": 100000, "ema_horizon_fraction": 0.05},
    )
    tc = time_constants(cfg)
    assert tc.milestones == (500, 750) and tc.warmup_steps == 40 and tc.schedule_steps == 1000
    assert tc.ema_decay == pytest.approx(1 - 1 / 50)  # H = min(1000, 0.05 * 1000) = 50
    assert tc.bn_horizon_scale == 0.01
    assert time_constants(_cfg(steps=1000, ema_decay=0.9, budget={"reference_steps": 100000, "ema_horizon_fraction": 0.05})).ema_decay == 0.9  # H 10 < 50: kept


def test_without_a_reference_every_constant_is_taken_as_given() -> None:
    cfg = _cfg(steps=100, ema_decay=0.999, schedule={"name": "step", "milestones": [50]})
    tc = time_constants(cfg)
    assert (tc.milestones, tc.ema_decay, tc.bn_horizon_scale) == ((50,), 0.999, None)


def test_truncate_runs_the_first_steps_of_the_full_schedule() -> None:
    full = _cfg(steps=5000, schedule={"name": "cosine"}, budget={"reference_steps": 5000})
    cut = _cfg(steps=1000, schedule={"name": "cosine"}, budget={"reference_steps": 5000, "rule": "truncate"})
    tc_full, tc_cut = time_constants(full), time_constants(cut)
    assert tc_cut.schedule_steps == 5000 and tc_cut.ema_decay == cut.ema_decay and tc_cut.bn_horizon_scale is None
    for step in (0, 500, 999):
        assert lr_factor(step, tc_cut.schedule_steps, cut.schedule) == lr_factor(step, tc_full.schedule_steps, full.schedule)


@pytest.mark.parametrize(
    "budget, message",
    [
        ({"rule": "shrink"}, "budget.rule"),
        ({"reference_steps": 0}, "reference_steps"),
        ({"ema_horizon_fraction": 0}, "ema_horizon_fraction"),
        ({"reference_steps": 10, "rule": "truncate"}, "truncate"),
    ],
)
def test_bad_budgets_are_one_line_errors(budget, message) -> None:
    with pytest.raises(SemimixError, match=message):
        time_constants(_cfg(steps=100, budget=budget))


def test_batchnorm_horizons_shrink_with_the_run_down_to_ten_steps() -> None:
    # H 1000 (momentum 0.001) at 1/50 of the budget → 20 steps; at 1/1000 → 1, floored at 10;
    # H 10 (momentum 0.1) stays 10; a horizon already under the floor (H 2) is kept
    model = nn.Sequential(nn.BatchNorm1d(3, momentum=0.001), nn.BatchNorm1d(3, momentum=0.1), nn.BatchNorm1d(3, momentum=0.5))
    scale_batchnorm(model, 1 / 50)
    assert [m.momentum for m in model] == pytest.approx([0.05, 0.1, 0.5])
    scale_batchnorm(model, None)
    assert [m.momentum for m in model] == pytest.approx([0.05, 0.1, 0.5])
    assert scaled_batchnorm_horizon(1000.0, 1 / 1000) == 10.0
    assert capped_horizon(1000.0, 1500, 0.1) == 150.0 and capped_horizon(50.0, 1500, 0.1) == 50.0 and capped_horizon(1000.0, 5, 0.1) == 1.0


def test_a_reduced_run_trains_with_the_derived_constants(tmp_path: Path) -> None:
    from semimix.train.trainer import Trainer

    cfg = _cfg(
        method="mean-teacher",
        steps=20,
        ema_decay=0.999,
        progress=False,
        out=str(tmp_path / "run"),
        model="cnn-small",
        model_params={"width": 4},
        data={"dataset": "digits", "labels": 20},
        labeled_batch_size=8,
        unlabeled_batch_size=8,
        schedule={"name": "step", "milestones": [1000]},
        budget={"reference_steps": 2000, "ema_horizon_fraction": 0.25},
    )
    trainer = Trainer(cfg)
    norms = [m for m in trainer.student.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.momentum == 0.1 for m in norms)  # cnn-small's H 10 is at the floor already
    assert all(m.momentum == 0.1 for m in trainer.teacher.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert trainer.time.milestones == (10,) and trainer.time.ema_decay == pytest.approx(0.8)
    summary = trainer.run()
    assert summary["time_constants"]["ema_decay"] == pytest.approx(0.8) and summary["time_constants"]["bn_momentum"] == [0.1]
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(cfg.optim.lr * 0.1)  # past the scaled milestone


def test_extends_merges_onto_the_parent_and_a_new_model_brings_its_own_params(tmp_path: Path) -> None:
    (tmp_path / "full.yaml").write_text("method: vat\nmodel: convlarge\nmodel_params: {bias: false}\nsteps: 100\noptim: {lr: 0.5}\n")
    (tmp_path / "small.yaml").write_text("extends: full.yaml\nmodel: cnn-small\nmodel_params: {width: 8}\nsteps: 10\n")
    (tmp_path / "same.yaml").write_text("extends: full.yaml\nsteps: 10\n")
    assert load_preset(tmp_path / "small.yaml") == {"method": "vat", "model": "cnn-small", "model_params": {"width": 8}, "steps": 10, "optim": {"lr": 0.5}}
    assert load_preset(tmp_path / "same.yaml")["model_params"] == {"bias": False}


def test_extends_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    (tmp_path / "d.yaml").write_text("extends: [x]\n")
    with pytest.raises(SemimixError, match="cycle"):
        load_preset(tmp_path / "a.yaml")
    with pytest.raises(SemimixError, match="missing.yaml"):
        load_preset(tmp_path / "c.yaml")
    with pytest.raises(SemimixError, match="must be a YAML file name"):
        load_preset(tmp_path / "d.yaml")
