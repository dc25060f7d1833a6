"""CI: semimix as a user installs it, from its wheel (not an editable checkout).

Run from a folder outside the checkout, in a venv holding only the installed wheel:
    python check_wheel.py CHECKOUT WHEEL OUT
Fails unless the wheel carries every bundled preset, `semimix presets` lists them, `semimix
--version` is pyproject's version, the default job trains, and the estimator fits on its preset.
Writes the default job's summary to OUT/summary.json for comparison with the editable install."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

DEFAULT_JOB = ["train", "--steps", "40", "--seed", "0", "--quiet"]  # the README's main job, shortened


def cli(*args: str) -> str:
    done = subprocess.run(["semimix", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"semimix {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def main(checkout: Path, wheel: Path, out: Path) -> None:
    import semimix

    if Path(semimix.__file__).resolve().is_relative_to((checkout / "src").resolve()):
        sys.exit(f"semimix was imported from the checkout's sources ({semimix.__file__}), not from the installed wheel")
    presets = sorted(p.name for p in (checkout / "src" / "semimix" / "presets").glob("*.yaml"))
    in_wheel = sorted(Path(n).name for n in zipfile.ZipFile(wheel).namelist() if n.startswith("semimix/presets/") and n.endswith(".yaml"))
    if in_wheel != presets:
        sys.exit(f"the wheel carries presets {in_wheel}, the checkout has {presets}")
    listed = sorted(f"{line.split()[0]}.yaml" for line in cli("presets").splitlines() if line.strip())
    if listed != presets:
        sys.exit(f"'semimix presets' lists {listed}, expected {presets}")
    version = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["version"]
    if cli("--version").strip() != f"semimix {version}":
        sys.exit(f"'semimix --version' says {cli('--version').strip()!r}, pyproject says {version}")
    cli(*DEFAULT_JOB, "--out", str(out / "wheel-run"))
    (out / "summary.json").write_text((out / "wheel-run" / "summary.json").read_text())
    from sklearn.datasets import load_iris

    from semimix import SemiSupervisedClassifier

    x, y = load_iris(return_X_y=True)
    y_partial = y.copy()
    y_partial[1::5] = -1  # a fifth of the samples unlabeled
    accuracy = SemiSupervisedClassifier(steps=30, random_state=0).fit(x, y_partial).score(x, y)
    print(
        f"wheel {wheel.name}: {len(presets)} presets, version {version}, default job test accuracy "
        f"{json.loads((out / 'summary.json').read_text())['test_accuracy']:.4f}, estimator accuracy {accuracy:.3f}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
