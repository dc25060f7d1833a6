"""A wheel carries the bundled presets: pyproject declares them as package data (a wheel without them
trained the default job on library defaults), and a missing default preset is a clear error."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")


def test_every_bundled_preset_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["semimix"]
    presets = sorted(p.relative_to(ROOT / "src" / "semimix").as_posix() for p in (ROOT / "src" / "semimix" / "presets").glob("*.yaml"))
    assert presets and all(any(fnmatch.fnmatch(p, pattern) for pattern in patterns) for p in presets)


def test_a_missing_default_preset_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import semimix.train.presets as presets
    from semimix.cli import build_config_dict, make_parser
    from semimix.errors import SemimixError

    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    with pytest.raises(SemimixError, match="missing from this install"):
        build_config_dict(make_parser().parse_args(["train"]))
