"""The trainer's parts on their own: the batch source, the loss meter, the run directory, and the
step that never touches files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ddp_jobs import moons_config
from semimix.errors import SemimixError
from semimix.train.distributed import Dist
from semimix.train.loss_meter import LossMeter
from semimix.train.rundir import CHECKPOINT_DIR, LAST, METRICS, SAVED, RunDir
from semimix.train.trainer import Trainer


def test_train_step_trains_in_memory_and_writes_no_file(tmp_path: Path) -> None:
    trainer = Trainer(moons_config(tmp_path / "run", steps=5))
    before = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    for _ in range(3):
        trainer.train_step()
    assert trainer.step == 3 and not (tmp_path / "run").exists()
    assert any(not torch.equal(before[k], v) for k, v in trainer.student.state_dict().items())


def test_batch_source_resumes_where_its_streams_stood(tmp_path: Path) -> None:
    a, b = (Trainer(moons_config(tmp_path / name, steps=5)) for name in ("a", "b"))
    a.batches.next()
    b.batches.load_state_dict(a.batches.state_dict())
    x, y = a.batches.next(), b.batches.next()
    assert torch.equal(x.x_l, y.x_l) and torch.equal(x.y_l, y.y_l) and torch.equal(x.idx_u, y.idx_u)
    assert set(a.batches.state_dict()) == {"labeled_stream", "unlabeled_stream", "second_labeled_stream"}
    assert a.batches.state_dict()["second_labeled_stream"] is None  # advmixup draws no second labeled batch


def test_loss_meter_averages_each_row_since_the_last_and_names_the_first_nonfinite_term(tmp_path: Path) -> None:
    meter = LossMeter(Dist(), torch.device("cpu"))
    meter.names = ["loss", "supervised", "consistency"]
    for value in (1.0, 3.0):
        meter.add({"loss": torch.tensor(value), "supervised": torch.tensor(value / 2), "consistency": torch.tensor(0.0)})
    meter.end_row({"step": 2})
    assert meter.count == 0 and meter.sums == {}
    meter.add({"loss": torch.tensor(5.0), "supervised": torch.tensor(1.0), "consistency": torch.tensor(4.0)})
    meter.end_row({"step": 3})
    assert meter.read() == [  # the rows closed since the last read, in order
        {"step": 2, "loss": 2.0, "supervised": 1.0, "consistency": 0.0},  # (1 + 3) / 2, (0.5 + 1.5) / 2
        {"step": 3, "loss": 5.0, "supervised": 1.0, "consistency": 4.0},
    ]
    assert meter.read() == []
    meter.mark_nonfinite(torch.tensor([0.0, 0.0]), step=4)
    meter.check_finite(tmp_path / "last.pt")  # nothing went NaN yet
    meter.mark_nonfinite(torch.tensor([0.0, 1.0]), step=5)
    meter.mark_nonfinite(torch.tensor([1.0, 1.0]), step=6)
    with pytest.raises(SemimixError, match="loss term consistency became NaN or Inf at step 5"):
        meter.check_finite(tmp_path / "last.pt")


def test_run_dir_appears_with_its_first_file_and_marks_the_first_checkpoint(tmp_path: Path) -> None:
    files = RunDir(tmp_path / "run")
    with files.owned(step=0, needed_bytes=0):
        pass
    assert not files.path.exists(), "a directory created for a run that wrote nothing must go again"
    with files.owned(step=0, needed_bytes=0):
        files.create({"steps": 3}, {})
        files.append_metrics(["step", "loss"], [{"step": 1, "loss": 0.5}])
        files.append_metrics(["step", "loss"], [{"step": 2, "loss": 0.25}])
        files.save_checkpoint(LAST, {"step": 1})
    assert (files.path / CHECKPOINT_DIR / SAVED).exists()
    assert (files.path / METRICS).read_bytes() == b"step,loss\n1,0.5\n2,0.25\n"
    with files.owned(step=1, needed_bytes=0):  # continuing from the checkpoint at step 1 drops the row of step 2
        assert (files.path / METRICS).read_bytes() == b"step,loss\n1,0.5\n"
