"""Shared test set-up: tiny problems run fastest on one thread (no OpenMP hand-offs on 2 cores);
``precision: auto`` resolves to fp32 on every machine (``SEMIMIX_NATIVE_BF16=0``, inherited by the
CLI subprocesses), so no test's numbers depend on whether the CPU has bf16 units — tests of the fast
path set the variable themselves; one tiny finished run that tests which only read it (or copy it
first) share."""

import os
from pathlib import Path

import pytest
import torch

os.environ["SEMIMIX_NATIVE_BF16"] = "0"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    """An 8-step ICT run on digits (with validation, so with a best.pt) and its summary; copy it before changing it."""
    from semimix.api import load_config, train

    out = tmp_path_factory.mktemp("runs") / "run"
    cfg = load_config("digits", method="ict", steps=8, eval_every=4, unlabeled_batch_size=32, progress=False, out=str(out))
    return out, train(cfg)
