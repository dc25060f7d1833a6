"""Every configs/*.yaml loads as `semimix train --config` (or `semimix scar --config`) reads it, builds its method
and model, cites a paper in its leading comment; an `X-cpu.yaml` extends X.yaml and changes only the budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))


def _load(path: Path):
    from semimix.cli import build_config_dict, make_parser
    from semimix.train.config import config_from_dict

    return config_from_dict(build_config_dict(make_parser().parse_args(["train", "--config", str(path)])))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_and_builds(path: Path) -> None:
    from semimix.cli import make_parser
    from semimix.commands.scar import settings_from
    from semimix.methods import build_method

    lead = "\n".join(line for line in path.read_text().splitlines()[:6] if line.startswith("#"))
    assert path.read_text().startswith("# ") and re.search(r"et al|\b(19|20)\d\d\b", lead), "a leading comment citing a paper"
    if "-scar-" in path.stem:
        settings, overrides = settings_from(make_parser().parse_args(["scar", "RUN", "--config", str(path)]))
        assert settings["attack"] == "fgsm" and len(settings["eps"]) == 1 and isinstance(overrides, dict)
        assert (path.parent / f"{path.stem.replace('-scar', '')}.yaml").exists(), "the training preset it follows"
        return
    cfg = _load(path)
    build_method(cfg.method, cfg.params_for_method())
    for name in cfg.method_params:
        build_method(name, cfg.method_params[name])


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem.endswith("-cpu")], ids=lambda p: p.stem)
def test_cpu_variant_is_its_full_preset_with_a_smaller_budget(path: Path) -> None:
    from semimix.train.budget import BUDGET_KEYS

    own = yaml.safe_load(path.read_text())
    assert own.pop("extends") == path.stem[: -len("-cpu")] + ".yaml", "a -cpu preset extends its full sibling"
    assert set(own) <= BUDGET_KEYS, set(own) - BUDGET_KEYS
    full, reduced = _load(path.with_name(path.stem[: -len("-cpu")] + ".yaml")), _load(path)
    assert reduced.steps < full.steps == full.budget.reference_steps == reduced.budget.reference_steps
    assert (reduced.method, reduced.method_params, reduced.optim, reduced.schedule, reduced.rampup, reduced.ema_decay) == (
        full.method,
        full.method_params,
        full.optim,
        full.schedule,
        full.rampup,
        full.ema_decay,
    )
