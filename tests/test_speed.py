"""``semimix bench speed`` and the trainer's speed options: bad input is one line; the JSON has
the promised shape; bf16 autocast and torch.compile train to the same losses as eager."""

from __future__ import annotations

import json

import pytest
import torch

from semimix.bench.speed import pass_costs, pass_summary, predicted_time, synthetic_bundle
from semimix.cli import main
from semimix.methods.base import BACKWARD, FORWARD, NO_GRAD, PASS_KINDS
from semimix.train.config import TrainConfig
from semimix.train.trainer import Trainer


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--methods", "nope"], "unknown method 'nope'"),
        (["--model", "nope"], "unknown model 'nope'"),
        (["--labeled-batch", "0"], "--labeled-batch must be a positive integer"),
        (["--steps", "-1"], "--steps must be a positive integer"),
        (["--warmup", "-1"], "--warmup must be >= 0"),
    ],
)
def test_bad_input_is_one_line(flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "speed", "--methods", "ict", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "speed", "--methods", "ict", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_json_has_the_documented_shape(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "speed.json"
    args = [
        "--methods",
        "supervised,ict",
        "--model",
        "cnn-small",
        "--image-size",
        "8",
        "--labeled-batch",
        "4",
        "--unlabeled-batch",
        "8",
        "--steps",
        "2",
        "--warmup",
        "0",
        "--json",
        str(out),
    ]
    assert main(["bench", "speed", *args]) == 0
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["model"] == "cnn-small"
    assert set(result["methods"]) == {"supervised", "ict"}
    for r in result["methods"].values():
        assert {"step_time_s", "step_time_spread_s", "samples_per_s", "predicted_step_time_s", "peak_memory_mb"} <= set(r)
        assert r["step_time_s"] > 0 and r["predicted_step_time_s"] > 0 and len(r["step_times_s"]) == 2
    assert result["methods"]["ict"]["ratio_to_ict"] == 1.0
    assert result["methods"]["supervised"]["samples_per_s"] == pytest.approx(4 / result["methods"]["supervised"]["step_time_s"])
    assert "| ict " in capsys.readouterr().out


def test_prediction_sums_the_declared_passes() -> None:
    costs = {(FORWARD, 4): 1.0, (BACKWARD, 4): 2.0, (NO_GRAD, 8): 0.25}
    assert predicted_time([(FORWARD, 4), (BACKWARD, 4), (NO_GRAD, 8), (NO_GRAD, 8)], costs) == 3.5
    assert pass_summary([[FORWARD, 4], [FORWARD, 8], [NO_GRAD, 8]]) == "F 4+8, N 8"


@pytest.mark.parametrize("amp", [False, True])
def test_pass_costs_time_any_logits_module(amp: bool) -> None:
    """Another library's network (benchmarks/reference_floor.py costs USB's WRN) is timed like ours;
    under bf16 autocast the float32 kinds (VAT's power iteration) are timed too."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    costs = pass_costs(net, (3, 2, 2), torch.device("cpu"), amp, {2, 5}, rounds=2)
    assert set(costs) == {(kind, n) for kind in PASS_KINDS for n in (2, 5)}
    assert all(c >= 0 for c in costs.values()) and costs[(FORWARD, 5)] > 0
    assert net[1].weight.grad is None  # the parameter backward leaves no gradients behind


def _losses(steps: int = 3, **options: bool | str) -> list[float]:
    """Each step's total loss of a tiny ICT run (teacher, mixup, BN) from the same seed."""
    cfg = TrainConfig(
        method="ict",
        model="mlp",
        model_params={"widths": [16, 16], "batchnorm": True},
        steps=100,
        labeled_batch_size=8,
        unlabeled_batch_size=16,
        device="cpu",
        progress=False,
        out="/dev/null",
        **options,
    )
    torch.manual_seed(0)  # the same synthetic data for every call (it is drawn before the trainer seeds itself)
    trainer = Trainer(cfg, data=synthetic_bundle((4,), classes=3, n=64))
    losses = []
    for _ in range(steps):
        trainer.train_step()
        trainer.losses.end_row({"step": trainer.step})
        losses.append(trainer.losses.read()[0]["loss"])  # the row of this one step: its loss
    return losses


def test_bf16_autocast_trains_to_the_same_losses() -> None:
    eager, amp = _losses(precision="fp32"), _losses(precision="bf16")
    assert eager != amp  # autocast really ran in bf16
    assert amp == pytest.approx(eager, rel=1e-2)  # bf16 keeps 8 mantissa bits; measured 0.1% apart here
    assert _losses(precision="bf16") == amp  # and a bf16 run repeats exactly from the same seed


@pytest.mark.slow
@pytest.mark.skipif(not torch._dynamo.is_dynamo_supported(), reason="torch.compile is not supported on this Python/platform")
def test_compile_trains_to_the_same_losses() -> None:
    assert _losses(compile=True) == pytest.approx(_losses(), rel=1e-4)
