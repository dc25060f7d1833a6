"""Every configs/*.yaml loads as `semimix train --config` (or `semimix scar --config`) reads it, builds its method
and model, cites a paper in its leading comment; an `X-cpu.yaml` keeps X.yaml's algorithm and cuts only the budget."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
# Keys a -cpu variant may change: the budget only (method and method_params stay).
CPU_ALLOWED_KEYS = {
    "steps", "model", "model_params", "eval_every", "log_every", "checkpoint_every", "threads",
    "labeled_batch_size", "unlabeled_batch_size", "ema_decay", "schedule", "rampup",
}


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
def test_cpu_variant_keeps_the_algorithm(path: Path) -> None:
    full = path.with_name(path.stem[: -len("-cpu")] + ".yaml")
    assert full.exists(), f"{path.name} has no full-scale sibling"
    a, b = yaml.safe_load(full.read_text()), yaml.safe_load(path.read_text())
    assert a["method"] == b["method"]
    for name in set(a.get("method_params", {})) & set(b.get("method_params", {})):
        assert a["method_params"][name] == b["method_params"][name], name
    changed = {k for k in set(a) | set(b) if a.get(k) != b.get(k)} - {"method_params"}
    assert changed <= CPU_ALLOWED_KEYS, changed - CPU_ALLOWED_KEYS
