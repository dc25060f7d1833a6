"""Every setting is checked once, when its config is built: a bad value is one clear line naming the
key, the value and what is valid, before any data loads, run directory or training step (issue 30)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from semimix.cli import main
from semimix.errors import SemimixError
from semimix.methods import METHODS, build_method
from semimix.train.config import TrainConfig, config_from_dict, validate_config
from semimix.validation import field_rule

CONFIG_CASES = [
    ({"schedule": {"name": "cosin"}}, "schedule.name must be one of cosine, step, constant; got 'cosin'"),
    ({"eval_model": "techer"}, "eval_model must be one of auto, student, teacher; got 'techer'"),
    ({"optim": {"name": "adamw"}}, "optim.name must be one of sgd, adam; got 'adamw'"),
    ({"optim": {"weight_decay_on": "biases"}}, "optim.weight_decay_on must be one of all, kernels; got 'biases'"),
    ({"optim": {"lr": 0}}, "optim.lr must be a number > 0; got 0"),
    ({"optim": {"momentum": 1.0}}, "optim.momentum must be a number in [0, 1); got 1.0"),
    ({"rampup": {"shape": "cosine"}}, "rampup.shape must be one of sigmoid, linear, none; got 'cosine'"),
    ({"augment": {"pad_mode": "edge"}}, "augment.pad_mode must be one of zero, reflect; got 'edge'"),
    ({"augment": {"strong_magnitude": 12}}, "augment.strong_magnitude must be an integer in [2, 11]; got 12"),
    ({"budget": {"rule": "shrink"}}, "budget.rule must be one of scale, truncate; got 'shrink'"),
    ({"budget": {"ema_horizon_fraction": 0}}, "budget.ema_horizon_fraction must be a number in (0, 1]; got 0"),
    ({"teacher_batchnorm": "mine"}, "teacher_batchnorm must be one of student, own; got 'mine'"),
    ({"nonfinite": "ignore"}, "nonfinite must be one of stop, skip; got 'ignore'"),
    ({"checkpoint_every": 0}, "checkpoint_every must be an integer > 0 or null; got 0"),
    ({"steps": 0}, "steps must be an integer > 0; got 0"),
    ({"ema_decay": 1.0}, "ema_decay must be a number in [0, 1); got 1.0"),
    ({"seed": -1}, "seed must be an integer in [0, 4294967295]; got -1"),
    ({"seed": 2**63}, "seed must be an integer in [0, 4294967295]; got 9223372036854775808"),
    ({"device": "gpu"}, "device must be auto, cpu, mps, cuda or cuda:N; got 'gpu'"),
    ({"method": "ictt"}, "unknown method 'ictt'; valid methods:"),
    ({"method_params": {"ict": {"divergence": "msee"}}}, "method_params.ict: ict.divergence must be one of mse, mse-sum, kl, ce; got 'msee'"),
    # a preset tunes several methods: each one's parameters are checked, not only the chosen method's
    ({"method": "vat", "method_params": {"mean-teacher": {"weight": -1.0}}}, "method_params.mean-teacher: mean-teacher.weight must be a number >= 0; got -1.0"),
]


@pytest.mark.parametrize("values, message", CONFIG_CASES, ids=lambda v: str(v)[:40])
def test_bad_setting_fails_when_the_config_is_built(values: dict, message: str) -> None:
    with pytest.raises(SemimixError) as err:
        config_from_dict(values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_api_constructor_and_a_mutated_config_are_checked() -> None:
    with pytest.raises(SemimixError, match=r"eval_model must be one of auto, student, teacher; got 'techer'"):
        TrainConfig(eval_model="techer")
    cfg = TrainConfig()
    cfg.schedule.name = "cosin"  # configs are mutable: the Trainer checks again with the same function
    with pytest.raises(SemimixError, match=r"schedule\.name must be one of cosine, step, constant; got 'cosin'"):
        validate_config(cfg)


def test_the_trainer_checks_before_it_loads_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from semimix.train import trainer

    monkeypatch.setattr(trainer, "load_dataset", lambda *a, **k: pytest.fail("data loaded for a bad config"))
    cfg = TrainConfig(steps=2)
    cfg.nonfinite = "ignore"
    with pytest.raises(SemimixError, match="nonfinite must be one of stop, skip; got 'ignore'"):
        trainer.Trainer(cfg)


def test_null_defaults_that_follow_another_setting_stay_valid() -> None:
    cfg = config_from_dict(
        {
            "checkpoint_every": None,
            "threads": None,
            "budget": {"reference_steps": None},
            "method": "manifold-mixup",
            "method_params": {"manifold-mixup": {"alpha": None, "supervised_alpha": None}, "meta-gradient": {"virtual_lr": None}},
        }
    )
    validate_config(cfg)


def run_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    """A bad ``semimix train`` must end in one line on stderr, no traceback, no run directory."""
    out_dir = tmp_path / "run"
    code = main(["train", "--quiet", "--steps", "2", "--out", str(out_dir), *args])
    err = capsys.readouterr().err
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out_dir.exists(), "a failed run left a directory behind"
    return err


@pytest.mark.parametrize("method", ["ict", "mean-teacher", "pi-model"])
def test_cli_bad_divergence_is_named_with_its_choices(capsys, tmp_path: Path, method: str) -> None:
    err = run_cli(capsys, tmp_path, "--method", method, "--set", "divergence=msee")
    assert f"--set divergence: {method}.divergence must be one of mse, mse-sum, kl, ce; got 'msee'" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "schedule.name=cosin"], "schedule.name must be one of cosine, step, constant; got 'cosin'"),
        (["--set", "eval_model=techer"], "eval_model must be one of auto, student, teacher; got 'techer'"),
        (["--set", "optim.name=adamw"], "optim.name must be one of sgd, adam; got 'adamw'"),
        (["--seed", "-1"], "seed must be an integer in [0, 4294967295]; got -1"),
        (["--seed", "9223372036854775808"], "seed must be an integer in [0, 4294967295]; got 9223372036854775808"),
    ],
)
def test_cli_bad_setting_is_one_clear_line(capsys, tmp_path: Path, args: list[str], message: str) -> None:
    assert message in run_cli(capsys, tmp_path, *args)


def test_cli_bad_method_value_names_the_parameter_first(capsys, tmp_path: Path) -> None:
    """epsilon is a hyperparameter of the default method: the cause comes first, no list of config keys."""
    err = run_cli(capsys, tmp_path, "--set", "epsilon=abc")
    assert err.startswith("semimix: error: --set epsilon: advmixup.epsilon must be a float like 8.0, got 'abc'"), err
    assert "config keys" not in err


def test_cli_bad_value_an_op_parses_is_one_clear_line(capsys, tmp_path: Path) -> None:
    """A value that only an op can parse (untied-mixup's gamma policy, by ``gamma_function``) is refused
    with the op's SemimixError, named by the method, as one line."""
    err = run_cli(capsys, tmp_path, "--method", "untied-mixup", "--set", "gamma=beta-cdf:0,1")
    assert "untied-mixup: gamma 'beta-cdf:0,1': the Beta CDF needs a, b > 0, e.g. beta-cdf:2,1" in err, err


def _params_with_rules() -> list[tuple[str, str, object]]:
    return [
        (name, f.name, field_rule(cls.Params, f.name))
        for name, cls in METHODS.items()
        for f in dataclasses.fields(cls.Params)
        if field_rule(cls.Params, f.name) is not None
    ]


@pytest.mark.parametrize("name", list(METHODS))
def test_every_methods_defaults_pass(name: str) -> None:
    build_method(name)
    validate_config(TrainConfig(method=name, method_params={name: dataclasses.asdict(METHODS[name].Params())}))


def test_every_declared_choice_refuses_a_wrong_string() -> None:
    choices = [(name, key, rule) for name, key, rule in _params_with_rules() if rule.choices]
    assert {"ict.divergence", "mean-teacher.divergence", "pi-model.divergence", "input-mixup.layers"} <= {f"{n}.{k}" for n, k, _ in choices}
    for name, key, rule in choices:
        message = f"{name}.{key} must be one of {', '.join(rule.choices)}; got 'bogus'"
        with pytest.raises(SemimixError, match=f"^{re.escape(message)}$"):
            build_method(name, {key: "bogus"})
    for f in dataclasses.fields(TrainConfig):
        rule = field_rule(TrainConfig, f.name)
        if rule is not None and (rule.choices or rule.pattern):
            with pytest.raises(SemimixError, match=rf"^{f.name} must be .*; got 'bogus'$"):
                TrainConfig(**{f.name: "bogus"})


def test_a_subclass_that_changes_a_default_keeps_the_rule() -> None:
    with pytest.raises(SemimixError, match=r"vat-entmin\.entmin_weight must be a number >= 0; got -1\.0"):
        build_method("vat-entmin", {"entmin_weight": -1.0})
    with pytest.raises(SemimixError, match=r"input-mixup\.supervised_only_alpha must be a number >= 0; got -1\.0"):
        build_method("input-mixup", {"supervised_only_alpha": -1.0})


def test_logit_target_divergences_only_where_the_targets_are_logits() -> None:
    assert build_method("manifold-mixup", {"divergence": "mse-logits"}).params.divergence == "mse-logits"
    for name in ("ict", "untied-mixup", "advmixup"):
        with pytest.raises(SemimixError, match=rf"{name}\.divergence must be one of mse, mse-sum, kl, ce; got 'mse-logits'"):
            build_method(name, {"divergence": "mse-logits"})


def test_a_grid_cell_with_a_bad_value_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "config": "two-moons",
                "methods": ["supervised", {"method": "ict", "set": {"divergence": "msee"}}],
                "labels": [10],
                "seeds": [0],
                "set": {"steps": 5},
            }
        )
    )
    assert main(["bench", "grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "row 'ict': --set divergence: ict.divergence must be one of mse, mse-sum, kl, ce; got 'msee'" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    grid.write_text(
        yaml.safe_dump(
            {"name": "tiny", "config": "two-moons", "methods": ["supervised"], "labels": [10], "seeds": [0], "set": {"steps": 5, "eval_model": "techer"}}
        )
    )
    assert main(["bench", "grid", str(grid), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "eval_model must be one of auto, student, teacher; got 'techer'" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
