"""SCAR's settings: ε's unit (pixel → per-channel step in standardised inputs), clipping to the valid
range (hand-computed FGSM/PGD on tiny linear models), the presets' values, and one-line errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from semimix.api import load_config, train
from semimix.cli import main, make_parser
from semimix.commands.scar import settings_from
from semimix.data.preprocess import Standardize, build_preprocess
from semimix.errors import SemimixError
from semimix.eval.robustness import ScoreModel, channel_affine, craft
from semimix.eval.selection import robust_selection
from semimix.ops import fgsm, pgd
from semimix.workflows.scar import attack_space, select

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SCAR_PRESETS = sorted(CONFIGS.glob("*-scar-*.yaml"))
PREP = Standardize(mean=[100.0, 50.0], std=[50.0, 25.0])  # 1 pixel = 0.02 and 0.04 input units


def line_model(weight: list[list[float]], bias: list[float]) -> torch.nn.Module:
    """Logits W·flatten(x) + b."""
    linear = torch.nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(weight))
        linear.bias.copy_(torch.tensor(bias))
    return torch.nn.Sequential(torch.nn.Flatten(), linear)


def fake_run(x: torch.Tensor, preprocess: torch.nn.Module | None, pixel_bounds: tuple[list[float], list[float]] | None = None) -> SimpleNamespace:
    """What ``attack_space`` reads of a run; ``pixel_bounds`` as ``DataBundle.pixel_bounds`` gives them for float images."""
    to_input = (lambda t: preprocess(t.float())) if preprocess is not None else (lambda t: t.float())
    data = SimpleNamespace(preprocess=preprocess, pixel_bounds=lambda: pixel_bounds)
    return SimpleNamespace(run_dir=Path("RUN"), data=data, trainer=SimpleNamespace(device=torch.device("cpu")), preprocess=to_input)


def settings(**values) -> dict:
    return {"eps_units": "auto", "clip": True, "attack": "fgsm", "norm": "linf", "pgd_steps": 10, "batch_size": 8, **values}


# Logits (x₀ + 1, −x₀ − 1): class 0 iff x₀ > −1, a boundary outside the pixel range [0, 255].
BOUNDARY = ([[1.0, 0.0], [-1.0, 0.0]], [1.0, -1.0])


def test_fgsm_clipped_by_hand() -> None:
    """Label 0: ∇CE = (−2p₁, 0), so x + 5·sign = (x₀ − 5, x₁); label 1 moves x₀ up by 5. Clipped to [0, 255]:
    (3, 7) → (−2, 7) → (0, 7), (252, 7) → (257, 7) → (255, 7); inside the range nothing changes."""
    model = line_model(*BOUNDARY)
    x, y = torch.tensor([[3.0, 7.0], [252.0, 7.0], [20.0, 7.0]]), torch.tensor([0, 1, 0])
    assert fgsm(model, x, y, 5.0).tolist() == [[-2.0, 7.0], [257.0, 7.0], [15.0, 7.0]]
    assert fgsm(model, x, y, 5.0, bounds=(0.0, 255.0)).tolist() == [[0.0, 7.0], [255.0, 7.0], [15.0, 7.0]]
    assert craft(model, x, y, attack="fgsm", epsilon=5.0, bounds=(0.0, 255.0)).tolist() == [[0.0, 7.0], [255.0, 7.0], [15.0, 7.0]]


def test_pgd_iterates_stay_in_range_and_ball() -> None:
    """PGD without random start walks x₀ down by 2.5·5/10 per step, then stops at x₀ − 5 (the ball) or at 0."""
    model = line_model(*BOUNDARY)
    x, y = torch.tensor([[3.0, 7.0], [20.0, 7.0]]), torch.tensor([0, 0])
    assert pgd(model, x, y, 5.0, random_start=False).tolist() == [[-2.0, 7.0], [15.0, 7.0]]
    assert pgd(model, x, y, 5.0, random_start=False, bounds=(0.0, 255.0)).tolist() == [[0.0, 7.0], [15.0, 7.0]]
    torch.manual_seed(0)
    adv = pgd(model, x.repeat(50, 1), y.repeat(50), 5.0, bounds=(0.0, 255.0))  # random starts
    assert adv.min() >= 0 and (adv - x.repeat(50, 1)).abs().max() <= 5.0 + 1e-5


def test_clipping_decides_the_selection() -> None:
    """x₀ = 3 crosses the boundary at −1 only through the invalid −2: unclipped it is rejected, clipped kept."""
    model, x = line_model(*BOUNDARY), torch.tensor([[3.0, 7.0], [200.0, 7.0]])
    assert robust_selection(model, x, 5.0).selected.tolist() == [False, True]
    assert robust_selection(model, x, 5.0, bounds=(0.0, 255.0)).selected.tolist() == [True, True]


def test_pixel_is_eps_over_sigma_per_channel_by_hand() -> None:
    """Standardize(mean (100, 50), std (50, 25)): ε = 5 pixels is a step of (0.1, 0.2) input units. The image
    (120, 60) is (0.4, 0.4) in inputs; logits (s, −s), s = x₀ + x₁, give sign ∇ = (−1, −1) at label 0, so the
    attack lands at (0.3, 0.2) = (115, 55) pixels; from (2, 1) pixels it would leave [0, 255] and is clipped."""
    scale, shift = channel_affine(PREP, (2, 1, 1))
    assert scale.tolist() == pytest.approx([0.02, 0.04]) and shift.tolist() == pytest.approx([-2.0, -2.0])
    x = torch.tensor([[120, 60], [2, 1]], dtype=torch.uint8).view(2, 2, 1, 1)
    space = attack_space(fake_run(x, PREP), x, settings())
    assert space.unit == "pixel" and space.bounds == (0.0, 255.0) and space.clip == "clipped to [0, 255] pixels"
    assert space.step(5.0)["pixels"] == [5.0, 5.0] and space.step(5.0)["input_units"] == pytest.approx([0.1, 0.2])
    model = line_model([[1.0, 1.0], [-1.0, -1.0]], [0.0, 0.0])
    adv = craft(ScoreModel(model, None, space.preprocess), space.x, torch.tensor([0, 0]), attack="fgsm", epsilon=5.0, bounds=space.bounds)
    assert adv.flatten(1).tolist() == [[115.0, 55.0], [0.0, 0.0]]
    assert PREP(adv).flatten().tolist() == pytest.approx([0.3, 0.2, -2.0, -2.0])
    assert select(model, None, space, 5.0, settings(), seed=0).pseudo.tolist() == [0, 1]


def test_input_unit_clips_per_channel_by_hand() -> None:
    """eps_units input on the same images: [0, 255] pixels are [−2, 3.1] and [−2, 8.2] input units; ε = 0.1 from
    (2, 1) pixels = (−1.96, −1.96) would reach −2.06, and is clipped to −2 in both channels."""
    x = torch.tensor([[2, 1]], dtype=torch.uint8).view(1, 2, 1, 1)
    space = attack_space(fake_run(x, PREP), x, settings(eps_units="input"))
    low, high = (b.flatten().tolist() for b in space.bounds)
    assert low == pytest.approx([-2.0, -2.0], abs=1e-4) and high == pytest.approx([3.1, 8.2], abs=1e-4)
    assert space.step(0.1) == {"pixels": pytest.approx([5.0, 2.5], rel=1e-5), "input_units": [0.1, 0.1]}
    model = line_model([[1.0, 1.0], [-1.0, -1.0]], [0.0, 0.0])
    adv = craft(model, space.x, torch.tensor([0]), attack="fgsm", epsilon=0.1, bounds=space.bounds)
    assert adv.flatten().tolist() == pytest.approx([-2.0, -2.0])
    assert attack_space(fake_run(x, PREP), x, settings(eps_units="input", clip=False)).bounds is None


def test_float_data_and_channel_mixing_preprocess() -> None:
    """Float inputs have no known range: auto is input and nothing is clipped; ZCA has no per-channel step."""
    floats = torch.randn(4, 3)
    space = attack_space(fake_run(floats, None), floats, settings())
    assert space.unit == "input" and space.bounds is None and "no known range" in space.clip
    assert space.step(0.5) == {"pixels": None, "input_units": [0.5]}
    with pytest.raises(SemimixError, match="eps_units pixel needs images"):
        attack_space(fake_run(floats, None), floats, settings(eps_units="pixel"))
    images = torch.randint(0, 256, (64, 3, 2, 2), dtype=torch.uint8)
    zca = build_preprocess("zca", [images])
    assert channel_affine(zca, (3, 2, 2)) is None
    space = attack_space(fake_run(images, zca), images, settings())
    assert space.bounds == (0.0, 255.0) and space.step(1.0) == {"pixels": [1.0] * 3, "input_units": None}
    with pytest.raises(SemimixError, match="clip with eps_units input needs a per-channel preprocess"):
        attack_space(fake_run(images, zca), images, settings(eps_units="input"))


def test_float_images_with_known_black_and_white_are_clipped_in_input_units() -> None:
    """Digits-like float images stored in 0..1 (channel 0) and 0..2 (channel 1), standardised by mean 0.5 and
    std 0.25 / 0.5: input units span (0 − 0.5)/0.25 = −2 .. 2 and (0 − 0.5)/0.5 = −1 .. 3. An FGSM step of 1 from
    inputs (1.8, 2.8) towards higher values reaches 2.8 / 3.8 and is clipped to 2 / 3."""
    x = torch.tensor([[0.95, 1.9]]).view(1, 2, 1, 1)
    prep = Standardize([0.5, 0.5], [0.25, 0.5])
    space = attack_space(fake_run(x, prep, ([0.0, 0.0], [1.0, 2.0])), x, settings())
    low, high = (b.flatten().tolist() for b in space.bounds)
    assert space.unit == "input" and low == pytest.approx([-2.0, -1.0]) and high == pytest.approx([2.0, 3.0])
    assert "clipped to the images' black and white" in space.clip
    model = line_model([[-1.0, -1.0], [1.0, 1.0]], [0.0, 0.0])  # class 0's loss grows with both inputs
    adv = craft(model, space.x, torch.tensor([0]), attack="fgsm", epsilon=1.0, bounds=space.bounds)
    assert adv.flatten().tolist() == pytest.approx([2.0, 3.0])
    assert attack_space(fake_run(x, prep, ([0.0, 0.0], [1.0, 2.0])), x, settings(clip=False)).bounds is None
    zca = build_preprocess("zca", [torch.rand(64, 2, 1, 1)])
    assert attack_space(fake_run(x, zca, ([0.0, 0.0], [1.0, 2.0])), x, settings()).bounds is None  # no per-channel map: not clipped, said so


@pytest.mark.parametrize("path", SCAR_PRESETS, ids=lambda p: p.stem)
def test_presets_hold_the_papers_settings(path: Path) -> None:
    """ε in pixel units, clipped: 1/255 on CIFAR-10 (the paper's ε = 1); on MNIST 15.7/255, the earlier presets'
    0.2 standardised units (σ = 78.6 pixels). λ of eq. (1): 1 for FixMatch, 0.75 for MixMatch's fine-tuning."""
    scar, train = settings_from(make_parser().parse_args(["scar", "RUN", "--config", str(path)]))
    assert scar["eps_units"] == "pixel" and scar["clip"] is True
    assert scar["eps"] == ([1.0] if "cifar10" in path.stem else [15.7])
    method = path.stem.split("-")[0]
    expected = {"fixmatch": 1.0, "mixmatch": 0.75}.get(method)
    assert train.get("method_params", {}).get(method, {}).get("weight") == expected


@pytest.mark.parametrize(
    "scar, message",
    [
        ("eps_units: pixels", "scar.eps_units must be one of auto, pixel, input, got 'pixels'"),
        ("clip: maybe", "scar.clip must be true or false, got 'maybe'"),
    ],
)
def test_bad_unit_and_clip_are_one_line_errors(tmp_path: Path, scar: str, message: str, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "scar.yaml"
    config.write_text(f"scar:\n  {scar}\n")
    assert main(["scar", str(tmp_path / "RUN"), "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_select_only_reports_unit_clip_and_step(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """On digits (float images of known black and white) auto is eps_units input, clipped to them, and the JSON says so; pixel is refused."""
    run = tmp_path / "run"
    train(load_config("digits", method="pseudo-label", model="mlp", steps=4, progress=False, out=str(run)))
    assert main(["scar", str(run), "--select-only", "--eps", "0.5"]) == 0
    saved = json.loads((run / "scar-selection-fgsm-unlabeled.json").read_text())
    assert saved["eps_units"] == "input" and saved["clip"].startswith("clipped to the images' black and white: per channel")
    assert saved["results"][0]["step"] == {"pixels": None, "input_units": [0.5]}
    capsys.readouterr()
    assert main(["scar", str(run), "--select-only", "--eps-units", "pixel"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "eps_units pixel needs images with raw 0..255 pixels" in err, err
