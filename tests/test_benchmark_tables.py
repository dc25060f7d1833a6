"""Tables that benchmark scripts print, on hand-computed cases."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sklearn_tabular = pytest.importorskip("sklearn_tabular")


def rows(classifier: str, dataset: str, accuracies: list[float]) -> list[dict]:
    return [{"classifier": classifier, "dataset": dataset, "setting": "5/class", "seed": s, "accuracy": a} for s, a in enumerate(accuracies)]


def test_paired_differences_carry_a_t_interval_and_say_beats_only_when_it_excludes_zero() -> None:
    ref = sklearn_tabular.DEFAULT_ROW
    results = rows(ref, "a", [0.9, 0.8, 0.7]) + rows("other", "a", [0.8, 0.8, 0.6]) + rows(ref, "b", [0.9, 0.91, 0.89]) + rows("other", "b", [0.8, 0.8, 0.8])
    # a: differences 0.1, 0, 0.1 -> mean 0.0667, sd 0.0577, t(0.975, 2) = 4.303 -> ±0.143 (a tie);
    # b: differences 0.1, 0.11, 0.09 -> mean 0.100, sd 0.01 -> ±0.025 (beats)
    line = sklearn_tabular.paired(results).splitlines()[-1]
    assert line == "| other | +0.067 ± 0.143 (tie, 3 seeds) | +0.100 ± 0.025 (beats, 3 seeds) |"
