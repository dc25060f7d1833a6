"""Short two-moons runs shared by tests/test_scale_resume.py and the torchrun workers it launches.

Run as ``torchrun --nproc_per_node 2 tests/ddp_jobs.py ROOT``, every worker trains the runs of
``DDP_RUNS`` one after another in one process group, so torch is imported once per worker.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from semimix.api import load_config, train
from semimix.train import distributed
from semimix.train.config import TrainConfig
from semimix.train.resume import resume_trainer

STEPS = 200  # long enough (a second or more) for kills to land mid-run
STOP_AT = 100  # where the resumed DDP run is stopped and continued


def moons_config(out: Path, method: str = "advmixup", **extra: Any) -> TrainConfig:
    """A run of a few seconds on one CPU core; checkpoints every 4 steps, so kills land both between
    and during checkpoint writes (each costs an fsync, ~20 ms here)."""
    values: dict[str, Any] = dict(
        method=method,
        steps=STEPS,
        eval_every=50,
        log_every=20,
        checkpoint_every=4,
        progress=False,
        out=str(out),
        labeled_batch_size=10,
        unlabeled_batch_size=64,
        threads=1,
    )
    return load_config("two-moons", **{**values, **extra})


def run_ddp_jobs(root: Path) -> None:
    """supervised (deterministic: compared with one process), advmixup, and advmixup stopped at
    ``STOP_AT`` and resumed in a new trainer (compared with the uninterrupted one)."""
    train(moons_config(root / "supervised", "supervised", steps=60, checkpoint_every=None))
    train(moons_config(root / "advmixup", checkpoint_every=None))
    train(moons_config(root / "advmixup-resumed", checkpoint_every=None), until_step=STOP_AT)
    resume_trainer(root / "advmixup-resumed").run()


if __name__ == "__main__":
    with distributed.membership():
        run_ddp_jobs(Path(sys.argv[1]))
