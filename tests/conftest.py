"""Shared test set-up: tiny problems run fastest on one thread (no OpenMP hand-offs on 2 cores)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
