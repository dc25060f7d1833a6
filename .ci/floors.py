"""CI: pip constraints that pin every declared dependency to its floor (``name>=X.Y`` → ``name==X.Y.*``),
so the fast test tier runs on the oldest versions pyproject.toml admits.

torch is the exception: its floor (2.2, from the APIs the code calls: ``nn.Module.compile``) is
checked by reading, not installed, since this machine can install only its on-disk CPU build
(2.13.0); older CPU builds come from pytorch.org, which it cannot reach."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

UNTESTED = {"torch"}


def floors(pyproject: Path) -> list[str]:
    pins = []
    for requirement in tomllib.loads(pyproject.read_text())["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9]+(?:\.[0-9]+)*)", requirement.replace(" ", ""))
        if match is None:
            sys.exit(f"{requirement!r}: every dependency needs a plain '>=' floor")
        name, version = match.groups()
        if name not in UNTESTED:
            pins.append(f"{name}=={version}.*" if version.count(".") == 1 else f"{name}=={version}")
    return pins


if __name__ == "__main__":
    print("\n".join(floors(Path(sys.argv[1]))))
