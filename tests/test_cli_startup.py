"""A fast command line: building the parser, the help of every command, ``--version`` and ``presets``
load none of the heavy libraries (torch alone takes over a second to import); the defaults the help
shows come from light modules (``semimix.eval.settings``, ``semimix.train.presets``) that the modules
doing the work import too."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from semimix.cli import main, make_parser

HEAVY = ("torch", "numpy", "scipy", "sklearn", "matplotlib")


def command_lines() -> list[list[str]]:
    """Every command and sub-command as its argv (``["bench", "grid"]``), read from the parser itself."""

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
        lines = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    lines += [[*prefix, name], *walk(child, [*prefix, name])]
        return lines

    return walk(make_parser(), [])


# In a fresh interpreter (this one has loaded torch for other tests): build the parser, answer each
# argv, catching argparse's exit, and report which heavy modules were imported.
PROBE = """
import json, sys
from semimix.cli import main, make_parser
make_parser()
for argv in json.loads(sys.argv[1]):
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def test_help_version_and_presets_import_no_heavy_library() -> None:
    argvs = [["--help"], ["--version"], ["presets"], *([*line, "--help"] for line in command_lines())]
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs), json.dumps(HEAVY)], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.splitlines()[-1]) == []
    assert "semimix " in proc.stdout and "digits" in proc.stdout  # --version and presets did answer


def test_the_probe_sees_heavy_imports() -> None:
    """The check above can fail: a command that needs torch shows up."""
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps([["methods"]]), json.dumps(["torch"])], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.splitlines()[-1]) == ["torch"]


def test_every_command_is_listed() -> None:
    names = {" ".join(line) for line in command_lines()}
    assert names == {
        "train",
        "eval",
        "predict",
        "export",
        "attack",
        "paths",
        "plot",
        "scar",
        "bench",
        "bench speed",
        "bench grid",
        "bench table",
        "two-circles",
        "manifold-figures",
        "methods",
        "models",
        "datasets",
        "presets",
    }


@pytest.mark.parametrize("line", command_lines(), ids=" ".join)
def test_every_command_has_help(line: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*line, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith(f"usage: semimix {' '.join(line)}")


def test_the_light_modules_import_no_heavy_library() -> None:
    """The one home of the help's defaults and of the presets, and the packages above them, stay light."""
    code = "import json, sys, semimix.eval.settings, semimix.train.presets; print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(HEAVY)], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_the_eval_package_still_exports_its_names() -> None:
    import semimix.eval
    from semimix.eval import evaluate, metrics

    assert evaluate is metrics.evaluate and all(getattr(semimix.eval, name) is not None for name in semimix.eval.__all__)
    with pytest.raises(AttributeError):
        _ = semimix.eval.no_such_name
