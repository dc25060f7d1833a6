"""The bundled presets and preset files: finding them by name, reading them (``semimix.files.load_yaml``),
resolving ``extends`` and merging values. No heavy imports, so that ``semimix presets`` lists them without torch;
``semimix.train.config`` builds a run's configuration from what these return."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semimix.errors import SemimixError
from semimix.files import load_yaml

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_preset(name_or_path: str) -> Path:
    """A bundled preset by name (e.g. ``digits``) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    bundled = PRESET_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    raise SemimixError(f"no preset {name_or_path!r}: bundled presets are {', '.join(preset_names())}, or give a .yaml path")


EXTENDS = "extends"  # a preset key: the YAML file (relative to this one) whose values this one changes


def load_preset(name_or_path: str | Path) -> dict[str, Any]:
    """A preset's values, with ``extends: FILE`` resolved: the named file's values, then this
    file's on top. A file that sets another ``model`` brings its own ``model_params`` (the parent's
    belong to the parent's model). This is how a reduced preset is its full preset plus a budget."""
    path = resolve_preset(str(name_or_path))
    return _load_extending(path, [])


def _load_extending(path: Path, chain: list[Path]) -> dict[str, Any]:
    values = load_yaml(path, f"give a path to a YAML file or a bundled preset name ({', '.join(preset_names())})")
    parent = values.pop(EXTENDS, None)
    if parent is None:
        return values
    if not isinstance(parent, str):
        raise SemimixError(f"config {path}: '{EXTENDS}' must be a YAML file name, got {parent!r}")
    parent_path = (path.parent / parent).resolve()
    if parent_path in chain or parent_path == path.resolve():
        raise SemimixError(f"config {path}: '{EXTENDS}: {parent}' makes a cycle; a preset cannot extend itself")
    base = _load_extending(parent_path, [*chain, path.resolve()])
    if "model" in values and values["model"] != base.get("model"):
        base.pop("model_params", None)
    return merge(base, values)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``update`` wins, nested sections are merged key by key."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
