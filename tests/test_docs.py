"""Every code block in the README and docs/ runs, so the docs cannot rot.

Python blocks of a page run in order in one namespace, bash blocks line by line (``semimix ...``
lines in-process, through the CLI's ``main``), all in a fresh folder, with step counts cut to
a few so a page runs in seconds. A block that must not run (GPUs, torchrun, full-scale jobs) is
preceded by the line ``<!-- docs-test: skip (why) -->``; the README's first block, the set-up
commands, is checked by its own test instead of being run.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from semimix.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"^<!-- docs-test: skip \((.+)\) -->$")
RUN = ("python", "bash")
INERT = ("text", "yaml")  # shown, never run: usage synopses and config excerpts
FEW_STEPS = "3"
FEW_MASKING_STEPS = "2"  # the gradient-masking check of attacks: a many-step PGD, the slowest part of a page
SETUP_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install . && semimix train   #",
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest   #',
)


@dataclass
class Block:
    language: str
    code: str
    line: int
    skip: str | None  # the reason, for a block marked not to run


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = SKIP.match(before)
        found.append(Block(match.group(1), match.group(2), line, marker.group(1) if marker else None))
    return found


def runnable(page: Path) -> list[Block]:
    found = blocks(page)
    return found[1:] if page.name == "README.md" else found  # the set-up block: see test_readme_setup_commands


def few_steps_python(code: str) -> str:
    code = re.sub(r"\bmasking_steps=\d+", f"masking_steps={FEW_MASKING_STEPS}", code)
    code = re.sub(r"\buntil_step=\d+", "until_step=1", code)  # still an interruption of the shortened run
    return re.sub(r"\bsteps=\d+", f"steps={FEW_STEPS}", code)


def few_steps_argv(argv: list[str]) -> list[str]:
    """``semimix`` arguments with the step counts cut, and no progress bar."""
    if argv[0] == "attack":
        if "--masking-steps" in argv:
            argv[argv.index("--masking-steps") + 1] = FEW_MASKING_STEPS
        else:
            argv += ["--masking-steps", FEW_MASKING_STEPS]
    elif "--steps" in argv:
        argv[argv.index("--steps") + 1] = FEW_STEPS
    elif argv[0] in ("train", "two-circles", "manifold-figures") and "--resume" not in argv:
        argv += ["--steps", FEW_STEPS]
    return argv + (["--quiet"] if argv[0] in ("train", "two-circles", "manifold-figures") else [])


def run_bash(block: Block, where: str, folder: Path) -> None:
    for line in block.code.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        argv = shlex.split(line, comments=True)
        if argv[0] == "semimix":
            assert main(few_steps_argv(argv[1:])) == 0, f"{where}: {line}"
        else:
            subprocess.run(line, shell=True, check=True, cwd=folder)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in runnable(page):
        where = f"{page.relative_to(ROOT)}:{block.line}"
        assert block.language in RUN + INERT, f"{where}: a block must be one of {RUN + INERT}, got {block.language!r}"
        if block.skip is not None or block.language in INERT:
            continue
        if block.language == "python":
            exec(compile(few_steps_python(block.code), where, "exec"), namespace)
        else:
            run_bash(block, where, tmp_path)


def test_skip_marker_is_rare_and_explained() -> None:
    all_blocks = [b for page in PAGES for b in runnable(page) if b.language in RUN]
    skipped = [b for b in all_blocks if b.skip is not None]
    assert all(b.skip.strip() for b in skipped)
    assert len(skipped) <= max(2, len(all_blocks) // 10), f"{len(skipped)} of {len(all_blocks)} blocks are skipped"


def test_readme_setup_commands() -> None:
    """The README opens with the two set-up commands, unchanged; what they rely on exists."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[:2] == ["# semimix", ""] and lines[2] == "```bash"
    assert all(line.startswith(command) for line, command in zip(lines[3:5], SETUP_COMMANDS))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^test = \[", pyproject, re.M) and re.search(r'^semimix = "semimix\.cli:main"', pyproject, re.M)


def test_relative_links_point_at_files() -> None:
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
