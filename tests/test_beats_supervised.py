"""AdvMixup uses the unlabeled moons: it beats supervised-only training on the same 10 labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from semimix.api import load_config, train


@pytest.mark.slow
def test_advmixup_beats_supervised_on_two_moons(tmp_path: Path) -> None:
    gains = []
    for seed in (0, 1, 2):
        accuracy = {
            method: train(load_config("two-moons", method=method, seed=seed, progress=False, out=str(tmp_path / f"{method}-{seed}")))["test_accuracy"]
            for method in ("supervised", "advmixup")
        }
        assert accuracy["advmixup"] > accuracy["supervised"], (seed, accuracy)
        gains.append(accuracy["advmixup"] - accuracy["supervised"])
    assert sum(gains) / len(gains) >= 0.01, gains
