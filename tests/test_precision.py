"""The fast path by default (issue 28): ``precision: auto`` runs bf16 where the device computes it
natively and fp32 elsewhere, channels-last comes with it for convolutional models, the parts bf16
would spoil stay fp32 (VAT's ξ = 1e-6 power iteration, weights, the EMA teacher, BN statistics), a
run keeps the precision it started in across resumes, and ``amp`` configs of earlier versions load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from semimix import api, cli
from semimix.errors import SemimixError
from semimix.models import build_model
from semimix.ops import vat_perturbation
from semimix.train.config import config_from_dict, load_preset, merge
from semimix.train.precision import OVERRIDE, SMALL_MODEL_MACS, forward_macs, native_bf16, resolve_fast_path
from semimix.train.resume import resume_trainer
from semimix.train.trainer import Trainer

CPU = torch.device("cpu")


@pytest.fixture
def bf16_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a CPU with AVX-512 bf16 or AMX (CPUs without them still run bf16, only slowly)."""
    monkeypatch.setenv(OVERRIDE, "1")


def test_auto_resolves_by_the_device_and_explicit_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    conv, mlp = build_model("cnn-small", (1, 8, 8), 10), build_model("mlp", (2,), 2)
    image, vector = (1, 8, 8), (2,)
    monkeypatch.setenv(OVERRIDE, "0")
    assert not native_bf16(CPU)
    assert resolve_fast_path("auto", "auto", CPU, conv, image).describe() == {
        "precision": "fp32",
        "memory_format": "contiguous",
        "fast_path": "precision: auto, cpu has no native bf16",
    }
    assert resolve_fast_path("bf16", "auto", CPU, conv, image).channels_last  # asked for: bf16 with channels-last
    assert resolve_fast_path("fp32", "channels-last", CPU, conv, image).channels_last
    assert not resolve_fast_path("fp32", "channels-last", CPU, mlp, vector).channels_last
    monkeypatch.setenv(OVERRIDE, "1")
    path = resolve_fast_path("auto", "auto", CPU, conv, image)
    assert path.bf16 and path.channels_last and path.reason == "precision: auto, cpu computes bf16 natively"
    assert not resolve_fast_path("auto", "auto", CPU, mlp, vector).channels_last  # nothing to lay out for a network without convolutions
    assert not resolve_fast_path("auto", "contiguous", CPU, conv, image).channels_last
    assert resolve_fast_path("fp32", "auto", CPU, conv, image).describe()["precision"] == "fp32"
    kept = resolve_fast_path("auto", "auto", CPU, conv, image, saved_precision="fp32")
    assert kept.precision == "fp32" and not kept.channels_last and "kept from the run's first attempt" in kept.reason
    monkeypatch.delenv(OVERRIDE)
    expected = any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    assert native_bf16(CPU) == expected  # detected from the CPU's units when not overridden


def test_forward_macs_counts_convolutions_and_linear_layers_per_sample() -> None:
    # conv 1->2 channels, 3x3, padding 1 on 4x4: 16 positions x 2 outputs x 9 = 288; grouped conv 2->2, groups 2,
    # 1x1: 16 x 2 x 1 = 32; linear 32 -> 3: 96. Per sample: the probe counts one sample, whatever the batch.
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.BatchNorm2d(2), torch.nn.Conv2d(2, 2, 1, groups=2), torch.nn.Flatten(), torch.nn.Linear(32, 3)
    )
    net.train()
    before = net[1].running_mean.clone()
    assert forward_macs(net, (1, 4, 4)) == 288 + 32 + 96
    assert net.training and torch.equal(net[1].running_mean, before)  # an eval-mode probe: mode and BN statistics as they were


def test_auto_keeps_small_models_in_fp32_on_a_cpu(bf16_units: None) -> None:
    """Below SMALL_MODEL_MACS a bf16 step is no faster on the CPU (RESULTS.md, "Small models")."""
    small = build_model("mlp", (64,), 10, widths=(100, 50))  # 11,900 multiply-accumulates per sample
    large = build_model("mlp", (784,), 10, widths=(1200, 1200))  # 2,392,800
    assert forward_macs(small, (64,)) == 64 * 100 + 100 * 50 + 50 * 10 < SMALL_MODEL_MACS < forward_macs(large, (784,))
    path = resolve_fast_path("auto", "auto", CPU, small, (64,))
    assert path.precision == "fp32" and "the model is small (11,900 multiply-accumulates per sample" in path.reason
    assert resolve_fast_path("auto", "auto", CPU, large, (784,)).bf16
    assert resolve_fast_path("bf16", "auto", CPU, small, (64,)).bf16  # asked for explicitly: bf16 it is


def test_vat_direction_is_found_in_fp32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    model = build_model("cnn-small", (1, 8, 8), 10, width=8).eval()
    x = torch.rand(16, 1, 8, 8)
    d = torch.randn_like(x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(model(x + 1e-6 * d), model(x))  # in bf16, ξ·d vanishes: without the guard the gradient would be 0
        target = F.softmax(model(x), dim=1)
    directions = []
    for autocast in (False, True):
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            directions.append(vat_perturbation(model, x, target.float(), epsilon=1.0))
    assert directions[1].dtype == torch.float32
    cosines = F.cosine_similarity(directions[0].flatten(1), directions[1].flatten(1))
    assert cosines.min() > 0.999, cosines


@pytest.mark.parametrize(
    "name, params",
    [("vat", {}), ("vat", {"entmin_weight": 1.0}), ("advmixup-no-teacher", {}), ("advmixup", {"perturbation_target": "student"})],
)
def test_the_student_s_own_target_is_float32_so_bf16_finds_the_fp32_direction(monkeypatch: pytest.MonkeyPatch, name: str, params: dict) -> None:
    """Where the power iteration's target is the student's own p(x), its first-order term vanishes
    only if the target is the float32 p(x) the iteration itself computes; a bf16-rounded target
    left the direction anywhere against the float32 one (cosines from −1 to 1 on this model)."""
    import semimix.methods.advmixup
    import semimix.methods.vat
    from semimix.methods import build_method
    from test_methods import tiny_setup

    directions: list[torch.Tensor] = []

    def recording(*args, **kwargs) -> torch.Tensor:
        directions.append(vat_perturbation(*args, **kwargs))
        return directions[-1]

    for module in (semimix.methods.vat, semimix.methods.advmixup):
        monkeypatch.setattr(module, "vat_perturbation", recording)
    for autocast in (False, True):
        method, _student, _teacher, batch, ctx = tiny_setup(name)
        method = build_method(name, {**method.params.__dict__, **params})
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            method.losses(batch, ctx)
    cosines = F.cosine_similarity(directions[0].flatten(1), directions[1].flatten(1))
    assert cosines.min() > 0.9999, cosines


def digits(out: Path, method: str = "mean-teacher", **settings) -> object:
    values = {"steps": 12, "eval_every": 6, "unlabeled_batch_size": 32, "progress": False, "seed": 0, **settings}
    return api.load_config("digits", method=method, out=str(out), **values)


def test_auto_on_a_device_with_bf16_units_trains_bf16_channels_last_and_keeps_the_state_fp32(bf16_units, tmp_path: Path) -> None:
    trainer = Trainer(digits(tmp_path / "run", steps=100, eval_every=50))
    summary = trainer.run()
    assert summary is not None
    assert (summary["precision"], summary["memory_format"]) == ("bf16", "channels-last")
    conv = next(m for m in trainer.student.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    for model in (trainer.student, trainer.teacher):
        assert model is not None and all(t.dtype in (torch.float32, torch.int64) for t in (*model.parameters(), *model.buffers()))
    assert all(t.dtype == torch.float32 for s in trainer.optimizer.state.values() for t in s.values() if torch.is_tensor(t) and t.is_floating_point())
    assert summary["test_accuracy"] > 0.6  # trains (fp32 and bf16 within noise: benchmarks/grids/precision-digits.yaml)


@pytest.mark.parametrize("method", ["vat", "advmixup"])
def test_zca_whitened_inputs_stay_float32_for_the_fp32_power_iteration(bf16_units, tmp_path: Path, method: str) -> None:
    """ZCA is a matmul: under bf16 autocast the training view would come out bf16, and VAT's float32
    power iteration then met bf16 inputs and float32 weights (every CIFAR-10 preset crashed so)."""
    from test_canonical import make_mnist

    make_mnist(tmp_path)
    data = {"dataset": "mnist", "data_dir": str(tmp_path), "val_size": 10, "labels": 20, "preprocess": "zca"}
    sizes = {"labeled_batch_size": 8, "unlabeled_batch_size": 8, "steps": 2, "eval_every": 2}
    cfg = api.load_config(None, method=method, precision="bf16", progress=False, out=str(tmp_path / "run"), data=data, **sizes)
    summary = api.train(cfg)
    assert summary["precision"] == "bf16" and summary["steps"] == 2


def test_training_views_are_float32_under_bf16_autocast() -> None:
    from semimix.train.batches import compose_view

    whiten = torch.nn.Linear(4, 4)  # a ZCA-like matmul preprocess
    view = compose_view(lambda x: x + 0.5, whiten)
    x = torch.rand(3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = view(x)
    assert out.dtype == torch.float32
    assert torch.equal(out, whiten(x + 0.5))


def test_fp32_is_exactly_what_auto_runs_without_bf16_units(tmp_path: Path) -> None:
    auto = api.train(digits(tmp_path / "auto"))
    fp32 = api.train(digits(tmp_path / "fp32", precision="fp32"))
    assert (auto["precision"], auto["memory_format"]) == ("fp32", "contiguous")
    assert fp32["test_accuracy"] == auto["test_accuracy"] and fp32["test_nll"] == auto["test_nll"]


def test_a_resumed_run_keeps_the_precision_it_started_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(OVERRIDE, "1")
    whole = api.train(digits(tmp_path / "whole"))
    api.train(digits(tmp_path / "split"), until_step=6)
    monkeypatch.setenv(OVERRIDE, "0")  # resumed on a machine without bf16 units
    trainer = resume_trainer(tmp_path / "split")
    resumed = trainer.run()
    assert resumed is not None and resumed["precision"] == "bf16" and "kept from the run's first attempt" in resumed["fast_path"]
    assert resumed["test_accuracy"] == whole["test_accuracy"] and resumed["test_nll"] == whole["test_nll"]


def test_configs_of_earlier_versions_say_amp(capsys, tmp_path: Path) -> None:
    assert config_from_dict({"amp": True}).precision == "bf16" and config_from_dict({"amp": False}).precision == "fp32"
    with pytest.raises(SemimixError, match="amp: false contradicts precision: bf16"):
        config_from_dict({"amp": False, "precision": "bf16"})
    with pytest.raises(SemimixError, match="precision must be one of auto, bf16, fp32"):
        config_from_dict(merge(load_preset("digits"), {"precision": "fp16"}))
    out = tmp_path / "cli"
    assert cli.main(["train", "--steps", "2", "--quiet", "--set", "amp=true", "--out", str(out)]) == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["precision"] == "bf16"
    # a run trained before precision existed: its config.yaml and checkpoint say amp, and it resumes
    run = tmp_path / "old"
    api.train(digits(run, precision="fp32"), until_step=6)
    values = yaml.safe_load((run / "config.yaml").read_text())
    del values["precision"], values["memory_format"]
    (run / "config.yaml").write_text(yaml.safe_dump({**values, "amp": False}, sort_keys=False))
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    settings = state["fingerprint"]["settings"]
    del settings["precision"], settings["memory_format"], state["precision"]
    settings["amp"] = False
    torch.save(state, run / "checkpoints" / "last.pt")
    assert cli.main(["train", "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["precision"] == "fp32"
