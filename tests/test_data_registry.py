"""The registry of datasets known by name: light to import (``semimix datasets`` loads no heavy
library), its facts agreeing with the loaders it names, and ``semimix.data`` exporting lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import semimix.data
from semimix.data import DATASET_NAMES, DataConfig, find_dataset, known_datasets, load_dataset
from semimix.data.benchmarks import BENCHMARKS
from semimix.data.registry import IMAGE_FOLDER

HEAVY = ("torch", "numpy", "scipy", "sklearn", "matplotlib")

# In a fresh interpreter (this one has loaded torch for other tests): run ``semimix datasets`` (with
# ``--data-dir`` when given) and report which heavy modules were imported.
PROBE = """
import json, sys
from semimix.cli import main
main(json.loads(sys.argv[1]))
print(json.dumps(sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)))
"""


def heavy_imports(argv: list[str], watch: tuple[str, ...] = HEAVY) -> tuple[list[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(watch)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.splitlines()[-1]), proc.stdout


def test_datasets_command_imports_no_heavy_library(tmp_path: Path) -> None:
    (tmp_path / "mnist").mkdir()
    for name in BENCHMARKS[0].files:
        (tmp_path / "mnist" / name).write_bytes(b"")  # found by name; listing never reads a file
    (tmp_path / "mine.npz").write_bytes(b"")
    for argv in (["datasets"], ["datasets", "--data-dir", str(tmp_path)]):
        loaded, out = heavy_imports(argv)
        assert loaded == [], argv
        assert all(name in out for name in DATASET_NAMES)
    assert "mine.npz" in out and f"{tmp_path / 'mnist'}" in out


def test_the_probe_sees_heavy_imports() -> None:
    """The check above can fail: loading a dataset shows up."""
    code = (
        "import json, sys\n"
        "from semimix.data import DataConfig, load_dataset\n"
        "load_dataset(DataConfig(dataset='two-moons'), 0)\n"
        "print(json.dumps(sorted(m for m in ('numpy', 'torch') if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.splitlines()[-1]) == ["numpy", "torch"]


def test_find_dataset_by_name_alias_and_case() -> None:
    assert [info.name for info in known_datasets()] == list(DATASET_NAMES)
    assert find_dataset("  Moons ") is find_dataset("two-moons") is not None
    assert find_dataset("CIFAR-10") is find_dataset("cifar10")
    assert find_dataset("no-such-set") is None and find_dataset("photos/") is None
    names = [name for info in known_datasets() for name in (info.name, *info.aliases)]
    assert len(names) == len(set(names))  # no alias shadows another dataset


def test_every_loader_is_importable_and_benchmarks_know_their_files() -> None:
    from semimix.data import canonical

    for info in (*known_datasets(), IMAGE_FOLDER):
        assert callable(info.load), info.name
        assert (info.benchmark is not None) == info.preprocess or info is IMAGE_FOLDER
    assert sorted(canonical.READERS) == sorted(spec.name for spec in BENCHMARKS)
    assert find_dataset("svhn").status(None) == (False, "needs --data-dir (<data_dir>/svhn/)")  # type: ignore[union-attr]
    assert find_dataset("digits").status(None) == (True, "bundled with scikit-learn")  # type: ignore[union-attr]


@pytest.mark.parametrize("info", [info for info in known_datasets() if info.benchmark is None], ids=lambda info: info.name)
def test_registered_name_is_the_bundles_name(info) -> None:
    """The registry states the names; the loaders name their bundles: the two agree."""
    bundle = load_dataset(DataConfig(dataset=info.aliases[0] if info.aliases else info.name.upper()), 0)
    assert bundle.name == info.name and bundle.num_classes == info.num_classes


def test_the_data_package_exports_lazily() -> None:
    from semimix.data.bundle import DataBundle
    from semimix.data.load import load_dataset as defined

    assert load_dataset is defined and semimix.data.DataBundle is DataBundle
    assert all(getattr(semimix.data, name) is not None for name in semimix.data.__all__)
    with pytest.raises(AttributeError):
        _ = semimix.data.no_such_name
