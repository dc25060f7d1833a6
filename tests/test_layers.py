"""The package's layers point one way (issue 26): every import of every module under src/semimix —
at module level, inside functions, under TYPE_CHECKING, relative — goes to its own layer or one
below it, read from the source with ``ast`` (nothing is imported).

Bottom to top: the bottom helpers; ops → models → methods, with data beside them (neither side
imports the other); eval (metrics and attacks on a model); train; runs; workflows (what is done
with finished runs); api (and the estimator); and at the top the studies, benchmarks, the CLI's
commands and the CLI itself. ``semimix.runs`` opening a run by building a whole Trainer is allowed
by this order (runs sits above train); issue 27 is to make it lighter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "semimix"

# Bottom to top. A module may import modules of its own layer and of the layers before it.
LAYERS = ("bottom", "data", "ops", "models", "methods", "eval", "train", "runs", "workflows", "api", "top")
# Layers side by side: neither imports the other, whatever their order above.
BESIDE = {frozenset({"data", "ops"}), frozenset({"data", "models"}), frozenset({"data", "methods"})}
# Each top-level module or package of semimix ("" is the package's own __init__) and its layer; a new
# one fails test_every_module_has_a_layer until it is placed here.
LAYER_OF = {
    "": "bottom",  # __version__ and SemimixError (see ALLOWED for its lazy SemiSupervisedClassifier)
    "errors": "bottom",
    "files": "bottom",
    "validation": "bottom",
    "tables": "bottom",
    "plots": "bottom",  # matplotlib drawing of given numbers; imports nothing of semimix
    "data": "data",
    "ops": "ops",
    "models": "models",
    "methods": "methods",
    "eval": "eval",
    "train": "train",
    "runs": "runs",
    "workflows": "workflows",
    "api": "api",
    "estimator": "api",
    "studies": "top",
    "bench": "top",
    "commands": "top",
    "cli": "top",
    "__main__": "top",
}
# Imports that point up on purpose: (module, imported module) -> why. Each must still exist.
ALLOWED = {
    ("semimix", "semimix.estimator"): "the root's lazy __getattr__ for the documented `from semimix import SemiSupervisedClassifier`; "
    "`import semimix` (the trainer's and reports' __version__) loads only the bottom layer",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str | None:
    """The layer of ``semimix`` or ``semimix.<name>[...]``, by its top-level name; None if unplaced."""
    parts = module.split(".")
    return LAYER_OF.get(parts[1] if len(parts) > 1 else "")


def imported_modules(source: str, module: str, is_package: bool, known: set[str] | dict[str, Path] = MODULES) -> set[str]:
    """Every semimix module that ``source`` (the text of ``module``) imports, anywhere in it:
    ``import a.b``, ``from a import b`` (a.b when it is a module, else a), relative imports, and
    ``importlib.import_module("a.b")`` with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return {name for name in found if name == "semimix" or name.startswith("semimix.")}


def import_graph() -> dict[str, set[str]]:
    return {name: imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py") for name, path in MODULES.items()}


def points_up(importer: str, imported: str) -> bool:
    low, high = layer_of(importer), layer_of(imported)
    assert low is not None and high is not None
    return LAYERS.index(high) > LAYERS.index(low) or frozenset({low, high}) in BESIDE


def test_every_module_has_a_layer() -> None:
    graph = import_graph()
    named = set(MODULES) | {m for imported in graph.values() for m in imported}
    unplaced = sorted(m for m in named if layer_of(m) is None)
    assert not unplaced, f"modules with no layer (add their top-level name to LAYER_OF in {Path(__file__).name}): {', '.join(unplaced)}"
    assert set(LAYER_OF.values()) <= set(LAYERS)
    assert {m.split(".")[1] if "." in m else "" for m in MODULES} == set(LAYER_OF), "LAYER_OF names a module that no longer exists"


def test_imports_point_down() -> None:
    graph = import_graph()
    upward = sorted((importer, imported) for importer, targets in graph.items() for imported in targets if points_up(importer, imported))
    wrong = [f"{a} ({layer_of(a)}) → {b} ({layer_of(b)})" for a, b in upward if (a, b) not in ALLOWED]
    assert not wrong, "imports pointing to a higher layer:\n" + "\n".join(wrong)
    stale = sorted(set(ALLOWED) - set(upward))
    assert not stale, f"allowed exceptions that no longer occur (remove them from ALLOWED): {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import semimix.eval.robustness", {"semimix.eval.robustness"}),
        ("from semimix.train.config import TrainConfig", {"semimix.train.config"}),
        ("from semimix import files, __version__", {"semimix.files", "semimix"}),
        ("def f():\n    from semimix.runs import load_run\n", {"semimix.runs"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from semimix.api import Run\n", {"semimix.api"}),
        (
            "from . import robustness\nfrom .settings import DEFAULT_BATCH\nfrom .. import runs",
            {"semimix.eval.robustness", "semimix.eval.settings", "semimix.runs"},
        ),
        ("import importlib\nimportlib.import_module('semimix.commands.attack')", {"semimix.commands.attack"}),
        ("import numpy\nfrom torch import nn", set()),
    ],
)
def test_the_scanner_sees_every_form_of_import(source: str, expected: set[str]) -> None:
    """As if in semimix/eval/report.py."""
    assert imported_modules(source, "semimix.eval.report", is_package=False) == expected


def test_up_and_beside() -> None:
    assert points_up("semimix.eval.report", "semimix.runs") and not points_up("semimix.eval", "semimix")
    assert not points_up("semimix.eval.report", "semimix.ops") and not points_up("semimix.eval.report", "semimix.eval.settings")
    assert points_up("semimix.data.augment", "semimix.methods") and points_up("semimix.ops", "semimix.data")
    assert not points_up("semimix.train.trainer", "semimix.data") and not points_up("semimix.cli", "semimix.workflows.scar")
