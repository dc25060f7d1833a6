"""Augmentation: the weak view (flip, translate with zero/reflect padding), each RandAugment op against
a hand-computed result and against PIL itself, and the strong view's randomness, range and Cutout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semimix.data.augment import (
    LEVEL_TO_ARG,
    OPS,
    Augmenter,
    FeatureStrongAugmenter,
    StrongAugmenter,
    apply_op,
    random_cutout,
    random_flip,
    random_translate,
)
from semimix.errors import SemimixError
from semimix.train.config import AugmentConfig, config_from_dict


def _sliced_shifts(image: np.ndarray, pixels: int, pad_mode: str) -> dict[tuple[int, int], np.ndarray]:
    """Reference crops, one per offset (dy, dx), built by padding with numpy and slicing."""
    h, w = image.shape[-2:]
    padded = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(pixels, pixels)] * 2, mode="reflect" if pad_mode == "reflect" else "constant")
    return {
        (dy, dx): padded[..., pixels + dy : pixels + dy + h, pixels + dx : pixels + dx + w]
        for dy in range(-pixels, pixels + 1)
        for dx in range(-pixels, pixels + 1)
    }


@pytest.mark.parametrize("pad_mode", ["zero", "reflect"])
def test_translate_is_a_sliced_shift_with_every_offset_drawn(pad_mode: str) -> None:
    image = np.arange(1, 2 * 6 * 7 + 1, dtype=np.float32).reshape(2, 6, 7)  # all values distinct and > 0
    references = _sliced_shifts(image, 2, pad_mode)
    torch.manual_seed(0)
    out = random_translate(torch.tensor(image).expand(300, 2, 6, 7), 2, pad_mode).numpy()
    offsets = []
    for view in out:
        matches = [offset for offset, ref in references.items() if np.array_equal(view, ref)]
        assert len(matches) == 1, "output is not a shifted copy of the input"
        offsets.append(matches[0])
    assert set(offsets) == set(references), "not every offset in [-2, 2]^2 was drawn"
    assert (out == 0).any() == (pad_mode == "zero")  # reflect never brings in zeros


@pytest.mark.parametrize("pad_mode", ["zero", "reflect"])
def test_translate_moves_a_one_hot_pixel_by_the_drawn_offset(pad_mode: str) -> None:
    image = np.zeros((1, 5, 5), np.float32)
    image[0, 1, 3] = 1.0
    torch.manual_seed(1)
    out = random_translate(torch.tensor(image).expand(200, 1, 5, 5), 1, pad_mode).numpy()
    references = _sliced_shifts(image, 1, pad_mode)
    for view in out:
        ((dy, dx),) = [offset for offset, ref in references.items() if np.array_equal(view, ref)]
        assert view[0, 1 - dy, 3 - dx] == 1.0  # the hot pixel moved by minus the crop offset, exactly
        copies = (1 + (dy == -1)) * (1 + (dx == 1)) if pad_mode == "reflect" else 1  # reflect mirrors it in at near edges
        assert view.sum() == copies


def test_flip_mirrors_some_images_and_keeps_the_others() -> None:
    x = torch.arange(64 * 2 * 3 * 4, dtype=torch.float32).view(64, 2, 3, 4)
    torch.manual_seed(0)
    out = random_flip(x)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert (flipped ^ kept).all() and 10 < flipped.sum() < 54


def test_augmenter_checks_its_settings() -> None:
    with pytest.raises(SemimixError, match="pad_mode"):
        Augmenter(translate=2, input_shape=(3, 8, 8), pad_mode="edge")
    with pytest.raises(SemimixError, match="reflect"):
        Augmenter(translate=8, input_shape=(1, 8, 8), pad_mode="reflect")
    with pytest.raises(SemimixError, match="image inputs"):
        Augmenter(flip=True, input_shape=(2,))
    assert Augmenter(noise=0.1, input_shape=(2,)).pad_mode == "zero" and Augmenter().is_identity


# ------------------------------------------------------------------------------------------------ ops


def _gray(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_identity_solarize_posterize() -> None:
    x = _gray([0, 127, 128, 200, 255])
    assert torch.equal(apply_op(x, "Identity"), x)
    assert apply_op(x, "Solarize", 128).flatten().tolist() == [0, 127, 127, 55, 0]
    v = _gray([0b10110111, 0b01111111])
    assert [apply_op(v, "Posterize", b).flatten().tolist() for b in (1, 2, 3, 4)] == [
        [0b10000000, 0],
        [0b10000000, 0b01000000],
        [0b10100000, 0b01100000],
        [0b10110000, 0b01110000],
    ]


def test_brightness_contrast_color_factors() -> None:
    x = _gray([10, 101, 255])
    assert apply_op(x, "Brightness", 0.5).flatten().tolist() == [5, 50, 127]  # PIL truncates
    assert apply_op(x, "Brightness", 2.0).flatten().tolist() == [20, 202, 255]  # and clips
    y = _gray([0, 100], [100, 200])  # mean gray 100
    assert apply_op(y, "Contrast", 0.5).flatten().tolist() == [50, 100, 100, 150]
    assert apply_op(y, "Contrast", 2.0).flatten().tolist() == [0, 100, 100, 255]
    red = torch.tensor([255.0, 0.0, 0.0]).view(1, 3, 1, 1)  # luma (19595·255 + 2^15) >> 16 = 76
    assert apply_op(red, "Color", 0.0).flatten().tolist() == [76, 76, 76]
    assert apply_op(red, "Color", 0.5).flatten().tolist() == [165, 38, 38]
    gray = torch.full((1, 3, 2, 2), 90.0)
    assert torch.equal(apply_op(gray, "Color", 1.7), gray)


def test_autocontrast_stretches_each_channel_to_full_range() -> None:
    x = torch.stack([torch.tensor([[50.0, 75.0], [100.0, 60.0]]), torch.full((2, 2), 33.0)])[None]
    out = apply_op(x, "AutoContrast")
    # PIL's int(v · 5.1 − 50 · 5.1) in float64: 100 gives 254.999… → 254, a quirk kept for fidelity
    assert out[0, 0].flatten().tolist() == [0, 127, 254, 51]
    assert out[0, 1].flatten().tolist() == [33] * 4  # a flat channel is left alone


def test_equalize_spreads_a_two_level_image_to_the_extremes() -> None:
    x = torch.full((1, 1, 32, 32), 50.0)
    x[..., 16:, :] = 100.0
    out = apply_op(x, "Equalize")
    assert torch.equal(out, torch.where(x == 50, 0.0, 255.0))
    small = x[..., 12:20, :8]  # 64 pixels: PIL's step (pixels below the top value // 255) is 0
    assert torch.equal(apply_op(small, "Equalize"), small)


def test_sharpness_blends_with_the_smoothed_image() -> None:
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 130.0
    smooth = apply_op(x, "Sharpness", 0.0)[0, 0]  # SMOOTH: [[1,1,1],[1,5,1],[1,1,1]] / 13, borders kept
    assert smooth[1:4, 1:4].tolist() == [[10, 10, 10], [10, 50, 10], [10, 10, 10]]
    assert smooth.sum() == 8 * 10 + 50
    assert torch.equal(apply_op(x, "Sharpness", 1.0), x)


def test_geometric_ops_on_hand_made_images() -> None:
    x = torch.arange(1.0, 1 + 2 * 5 * 5).view(1, 2, 5, 5)  # asymmetric, all values > 0
    assert torch.equal(apply_op(x, "Rotate", 90), torch.rot90(x, 1, (-2, -1)))  # PIL: counter-clockwise
    assert torch.equal(apply_op(x, "Rotate", 180), x.flip(-1).flip(-2))
    shifted = apply_op(x, "TranslateX", 2, fill=0.0)  # PIL: output (x, y) reads input (x + 2, y)
    assert torch.equal(shifted[..., :3], x[..., 2:]) and (shifted[..., 3:] == 0).all()
    shifted = apply_op(x, "TranslateY", -1, fill=7.0)
    assert torch.equal(shifted[..., 1:, :], x[..., :-1, :]) and (shifted[..., 0, :] == 7).all()
    # ShearX s: output (x, y) reads column floor(x + ½ + s(y + ½)); for s = 0.25 rows 0-1 stay, rows 2-4
    # move left by one pixel, their last column filled
    sheared = apply_op(x, "ShearX", 0.25, fill=0.0)
    assert torch.equal(sheared[..., :2, :], x[..., :2, :]) and torch.equal(sheared[..., 2:, :4], x[..., 2:, 1:])
    assert (sheared[..., 2:, 4] == 0).all()


def test_ops_agree_with_pil() -> None:
    """Every op against Pillow on random RGB and gray images, pixel for pixel."""
    pil = pytest.importorskip("PIL")
    from PIL import Image, ImageEnhance, ImageOps

    def reference(img: Image.Image, op: str, arg: float) -> np.ndarray:
        fill = (127,) * 3 if img.mode == "RGB" else 127
        affine = {"ShearX": (1, arg, 0, 0, 1, 0), "ShearY": (1, 0, 0, arg, 1, 0), "TranslateX": (1, 0, arg, 0, 1, 0), "TranslateY": (1, 0, 0, 0, 1, arg)}
        if op in ("Color", "Contrast", "Brightness", "Sharpness"):
            out = getattr(ImageEnhance, op)(img).enhance(arg)
        elif op == "Rotate":
            out = img.rotate(arg, fillcolor=fill)
        elif op in affine:
            out = img.transform(img.size, Image.AFFINE, affine[op], fillcolor=fill)
        else:
            out = {
                "Identity": lambda: img,
                "AutoContrast": lambda: ImageOps.autocontrast(img),
                "Equalize": lambda: ImageOps.equalize(img),
                "Solarize": lambda: ImageOps.solarize(img, int(arg)),
                "Posterize": lambda: ImageOps.posterize(img, int(arg)),
            }[op]()
        return np.asarray(out, dtype=np.float32)

    args = {
        "Rotate": -27.0,
        "Solarize": 128.0,
        "Color": 1.72,
        "Contrast": 0.28,
        "Brightness": 1.5,
        "Sharpness": 1.72,
        "ShearX": 0.27,
        "ShearY": -0.15,
        "TranslateX": -9.0,
        "TranslateY": 4.0,
        "Posterize": 2.0,
    }
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    blocky = np.kron(rng.integers(40, 120, (8, 8, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # narrow range, flat areas
    for array in (noisy, blocky, noisy[..., 0], blocky[..., 1]):
        x = torch.tensor(array, dtype=torch.float32)
        x = x.permute(2, 0, 1)[None] if x.dim() == 3 else x[None, None]
        for op in OPS:
            ours = apply_op(x, op, args.get(op, 0.0))[0]
            ours = ours.permute(1, 2, 0) if ours.shape[0] == 3 else ours[0]
            assert np.array_equal(ours.numpy(), reference(Image.fromarray(array), op, args.get(op, 0.0))), (op, pil.__version__)


def test_level_ranges_are_fixmatchs() -> None:
    v = torch.tensor([1.0, 9.0])
    ranges = {op: LEVEL_TO_ARG[op](v, 32, 32).tolist() for op in LEVEL_TO_ARG}
    assert ranges["Rotate"] == [3, 27] and ranges["Solarize"] == [231, 26] and ranges["Posterize"] == [4, 1]
    assert ranges["TranslateX"] == [1, 9] and LEVEL_TO_ARG["TranslateY"](v, 8, 8).tolist() == [0, 2]
    assert ranges["Brightness"] == pytest.approx([0.28, 1.72]) and ranges["ShearX"] == pytest.approx([0.03, 0.27])


# ------------------------------------------------------------------------------------------------ strong view


def test_strong_view_keeps_shape_dtype_and_range() -> None:
    torch.manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32)).float()
    out = StrongAugmenter()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 255 and torch.equal(out, out.round())
    unit = torch.rand(16, 1, 8, 8)
    out = StrongAugmenter(input_shape=(1, 8, 8), high=1.0)(unit)
    assert out.shape == unit.shape and 0 <= out.min() and out.max() <= 1


def test_strong_view_on_any_pixel_range_is_the_0_255_view_mapped_there() -> None:
    """Images whose black and white lie at per-channel ``low``/``high`` (a loader's standardised images)
    get the same ops as on 0..255 levels: the random draws depend on shapes, not values."""
    levels = torch.randint(0, 256, (32, 3, 16, 16)).float()
    low, high = torch.tensor([-1.5, 0.0, 2.0]).view(1, 3, 1, 1), torch.tensor([2.5, 1.0, 6.0]).view(1, 3, 1, 1)
    x = low + levels * (high - low) / 255
    torch.manual_seed(4)
    expected = low + StrongAugmenter(input_shape=(3, 16, 16))(levels) * (high - low) / 255
    torch.manual_seed(4)
    out = StrongAugmenter(input_shape=(3, 16, 16), low=low.flatten().tolist(), high=high.flatten().tolist())(x)
    assert torch.allclose(out, expected, atol=1e-5) and not torch.allclose(out, x)
    assert (out >= low - 1e-5).all() and (out <= high + 1e-5).all()


def test_strong_view_draws_per_image_and_repeats_under_a_seed() -> None:
    x = torch.randint(0, 256, (1, 3, 16, 16)).float().expand(64, 3, 16, 16)
    augment = StrongAugmenter(ops=1, cutout=0.0, input_shape=(3, 16, 16))
    torch.manual_seed(3)
    out = augment(x)
    unchanged = (out == x).flatten(1).all(1)
    assert 10 < unchanged.sum() < 60  # Identity or not applied: ½ + ½/14 of the images
    assert len(torch.unique(out[~unchanged].flatten(1), dim=0)) > 10  # the others got different ops
    torch.manual_seed(3)
    assert torch.equal(augment(x), out)
    assert not torch.equal(augment(x), out)


def test_cutout_is_a_clipped_square_of_fill() -> None:
    torch.manual_seed(0)
    out = random_cutout(torch.full((200, 3, 32, 32), 200.0), 16, 127.0)
    mask = (out == 127).all(1)
    assert torch.equal(mask, (out == 127).any(1))  # all channels
    area = mask.flatten(1).sum(1)
    rows, cols = mask.any(2).sum(1), mask.any(1).sum(1)
    assert torch.equal(area, rows * cols)  # a rectangle
    assert rows.max() == 16 and cols.max() == 16 and rows.min() >= 8 and cols.min() >= 8
    assert (area == 256).any() and (area < 256).any()  # inside, and clipped at a border
    assert StrongAugmenter.from_config(AugmentConfig(cutout=0.25), (3, 32, 32)).cutout_size == 8
    strong = StrongAugmenter(ops=0, cutout=0.5, fill=0.0)
    assert ((strong(torch.full((8, 3, 32, 32), 9.0)) == 0).flatten(1).sum(1) <= 3 * 256).all()


def test_strong_view_config() -> None:
    cfg = config_from_dict({"augment": {"pad_mode": "reflect", "strong_ops": 3, "strong_magnitude": 6, "cutout": 0.0}})
    strong = StrongAugmenter.from_config(cfg.augment, (3, 32, 32))
    assert (strong.ops, strong.magnitude, strong.cutout_size) == (3, 6, 0) and cfg.augment.pad_mode == "reflect"
    for bad in (
        {"ops": -1},
        {"magnitude": 1},
        {"magnitude": 12},
        {"cutout": 1.5},
        {"input_shape": (2, 8, 8)},
        {"input_shape": (64,)},
        {"low": 1.0, "high": 1.0},
    ):
        with pytest.raises(SemimixError):
            StrongAugmenter(**bad)


# ------------------------------------------------------------------------------------------------ strong view of feature vectors


def _spread_one_and_ten() -> torch.Tensor:
    """Training rows whose two features have mean 0 and population std 1 and 10, by hand."""
    return torch.tensor([[-1.0, -10.0], [1.0, 10.0]])


def test_feature_strong_view_noise_scales_with_each_features_spread() -> None:
    strong = FeatureStrongAugmenter.from_config(AugmentConfig(strong_noise=0.5, strong_drop=0.0), _spread_one_and_ten(), torch.device("cpu"))
    assert strong.std.tolist() == [1.0, 10.0] and strong.mean.tolist() == [0.0, 0.0]
    x = torch.full((20000, 2), 3.0)
    torch.manual_seed(0)
    noise = strong(x) - x
    assert noise.std(0).tolist() == pytest.approx([0.5, 5.0], rel=0.03)  # 0.5 × (1, 10)
    assert noise.mean(0).abs().max() < 0.1


def test_feature_strong_view_drops_features_to_their_mean() -> None:
    x_train = _spread_one_and_ten() + torch.tensor([4.0, -2.0])  # means 4 and -2
    strong = FeatureStrongAugmenter.from_config(AugmentConfig(strong_noise=0.0, strong_drop=0.25), x_train, torch.device("cpu"))
    x = torch.full((10000, 2), 7.0)
    torch.manual_seed(0)
    out = strong(x)
    dropped = out != x
    assert torch.equal(out[dropped], torch.tensor([4.0, -2.0]).expand_as(x)[dropped])
    assert dropped.float().mean(0).tolist() == pytest.approx([0.25, 0.25], abs=0.02)


def test_feature_strong_view_keeps_shape_and_repeats_under_a_seed() -> None:
    x_train = torch.randn(50, 1, 40)  # a 1-D signal (MNIST-1D's shape): one spread per position
    strong = FeatureStrongAugmenter.from_config(AugmentConfig(), x_train, torch.device("cpu"))
    x = x_train[:8]
    torch.manual_seed(1)
    out = strong(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    torch.manual_seed(1)
    assert torch.equal(strong(x), out)
    assert not torch.equal(strong(x), out)
    with pytest.raises(SemimixError, match="strong_drop"):
        FeatureStrongAugmenter(torch.zeros(2), torch.ones(2), drop=1.5)
