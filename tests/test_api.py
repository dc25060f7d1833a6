"""The Python API: one tiny run, then every CLI action on it as a function call that returns data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semimix import api


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api") / "run"
    cfg = api.load_config("digits", method="supervised", steps=8, eval_every=4, progress=False, out=str(out))
    summary = api.train(cfg, until_step=4)
    assert summary["steps"] == 4 and "test_accuracy" not in summary
    assert api.resume(out, progress=False)["steps"] == 8
    return out


def test_predict_matches_the_runs_own_evaluation(run_dir: Path) -> None:
    run = api.load_run(run_dir)
    x, y = run.split("test")
    predicted = api.predict(run, x.numpy())
    assert predicted.shape == (len(y),) and predicted.dtype == np.int64
    assert (predicted == y.numpy()).mean() == pytest.approx(run.evaluate("test")["accuracy"])
    np.testing.assert_array_equal(api.predict(run_dir, x[:5]), predicted[:5])
    with pytest.raises(ValueError, match=r"shape \(64,\), but the run's model takes \(1, 8, 8\)"):
        api.predict(run, x.reshape(len(x), -1))


def test_evaluate_attack_and_paths_return_what_they_write(run_dir: Path, tmp_path: Path) -> None:
    report = api.evaluate(run_dir, split="val", out=tmp_path)
    assert 0 <= report["accuracy"] <= 1 and report["split"] == "val"
    assert [Path(p).name for p in report["written"]] == ["eval-val-best.json", "reliability-val-best.png"]
    attacked = api.attack([run_dir], eps=[0.5], masking_steps=0, out=tmp_path)
    (result,) = attacked["runs"]
    assert result["epsilons"] == [0.5] and result["errors"][0] >= result["clean_error"] - 1e-9
    assert all(Path(p).exists() for p in attacked["written"]) and attacked["table"].startswith("| run ")
    study = api.paths(run_dir, pairs=10, points=3, out=tmp_path)
    assert study["lambdas"] == [0.0, 0.5, 1.0] and all(Path(p).exists() for p in study["written"])
    with pytest.raises(ValueError, match="pairs must be >= 1"):
        api.paths(run_dir, pairs=0)
