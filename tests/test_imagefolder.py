"""A user's image folder: round trip of tiny PNGs, splits, preprocessing, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semimix.data import DataConfig
from semimix.data.imagefolder import load
from semimix.data.preprocess import Standardize
from semimix.data.readers.imagefolder import is_image_folder, read_image_folder
from semimix.errors import SemimixError

SIZE = (5, 4)  # width, height


def pixels(seed: int, channels: int) -> np.ndarray:
    shape = (SIZE[1], SIZE[0], channels) if channels == 3 else (SIZE[1], SIZE[0])
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(root: Path, classes=("cat", "dog", "owl"), per_class: int = 6, unlabeled: int = 4, channels: int = 3) -> dict[str, np.ndarray]:
    """Tiny PNGs; returns every written image by its relative path."""
    written = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            written[f"{name}/{i:02d}.png"] = pixels(100 * c + i, channels)
    for i in range(unlabeled):
        written[f"unlabeled/u{i}.png"] = pixels(1000 + i, channels)
    for rel, array in written.items():
        write(root / rel, array)
    return written


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def as_hwc(x: torch.Tensor) -> np.ndarray:
    return x.numpy().transpose(1, 2, 0)


def test_round_trip_rgb(tmp_path):
    written = make_folder(tmp_path / "photos")
    (tmp_path / "photos" / "README.txt").write_text("ignored")
    (tmp_path / "photos" / "cat" / ".hidden.png").write_bytes(b"not an image")  # hidden: skipped
    bundle = load(DataConfig(dataset=str(tmp_path / "photos")), 0)
    files = read_image_folder(tmp_path / "photos").files  # the reading order that split indexes
    assert files[:2] == ["cat/00.png", "cat/01.png"] and files[-1] == "unlabeled/u3.png"
    assert bundle.name == "photos" and bundle.class_names == ["cat", "dog", "owl"] and bundle.num_classes == 3
    assert bundle.x_labeled.dtype == torch.uint8 and bundle.input_shape == (3, SIZE[1], SIZE[0])
    assert (len(bundle.x_labeled), len(bundle.x_unlabeled), len(bundle.x_val), len(bundle.x_test)) == (18, 4, 0, 0)
    assert bundle.y_unlabeled_true is None  # the unlabeled/ images have no labels
    for row, index, label in zip(bundle.x_labeled, bundle.split["labeled"], bundle.y_labeled):
        assert np.array_equal(as_hwc(row), written[files[index]])
        assert bundle.class_names[label] == files[index].split("/")[0]
    unlabeled = {row.numpy().tobytes() for row in bundle.x_unlabeled}
    assert unlabeled == {written[f"unlabeled/u{i}.png"].transpose(2, 0, 1).tobytes() for i in range(4)}


def test_preprocess_standardizes_with_training_pool_stats(tmp_path):
    make_folder(tmp_path / "photos")
    bundle = load(DataConfig(dataset=str(tmp_path / "photos")), 0)
    assert isinstance(bundle.preprocess, Standardize)
    pool = torch.cat([bundle.x_labeled, bundle.x_unlabeled]).float()
    out = bundle.preprocess(pool)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5)
    assert load(DataConfig(dataset=str(tmp_path / "photos"), normalize=False), 0).preprocess is None
    ict = load(DataConfig(dataset=str(tmp_path / "photos"), preprocess="ict-scale"), 0)
    assert torch.allclose(ict.preprocess(pool), (pool - 127.5) / 127.5)
    zca = load(DataConfig(dataset=str(tmp_path / "photos"), preprocess="zca", zca_quirk=False, zca_epsilon=0.01), 0)
    assert zca.preprocess(pool).shape == pool.shape
    with pytest.raises(SemimixError, match="unknown preprocess"):
        load(DataConfig(dataset=str(tmp_path / "nowhere"), preprocess="whiten"), 0)  # checked before reading


def test_grayscale_stays_one_channel_and_mixed_becomes_rgb(tmp_path):
    make_folder(tmp_path / "gray", channels=1, unlabeled=0)
    gray = load(DataConfig(dataset=str(tmp_path / "gray")), 0)
    assert gray.input_shape == (1, SIZE[1], SIZE[0]) and len(gray.x_unlabeled) == 0
    make_folder(tmp_path / "mixed", classes=("a", "b"), unlabeled=0, channels=3)
    write(tmp_path / "mixed" / "b" / "gray.png", pixels(7, 1))
    data = read_image_folder(tmp_path / "mixed")
    assert data.x.shape[1] == 3
    row = data.x[data.files.index("b/gray.png")]
    assert np.array_equal(row[0], pixels(7, 1)) and np.array_equal(row[0], row[2])  # gray copied to R, G and B


def test_splits_labels_and_data_dir(tmp_path):
    make_folder(tmp_path / "photos", per_class=10, unlabeled=5)
    cfg = DataConfig(dataset="photos", data_dir=str(tmp_path), labels=6, val_size=6, test_size=0.2)
    assert is_image_folder("photos", str(tmp_path)) and not is_image_folder("photos", None)
    a, b = load(cfg, 1), load(cfg, 1)
    assert (len(a.x_labeled), len(a.x_val), len(a.x_test), len(a.x_unlabeled)) == (6, 6, 6, 30 - 12 - 6 + 5)
    assert np.array_equal(np.bincount(a.y_test.numpy()), [2, 2, 2]) and np.array_equal(np.bincount(a.y_labeled.numpy()), [2, 2, 2])
    assert a.x_test.dtype == torch.uint8 and a.x_val.dtype == torch.uint8
    assert all(np.array_equal(a.split[k], b.split[k]) for k in a.split)
    taken = np.concatenate([a.split[k] for k in ("test", "val", "labeled", "unlabeled")])
    assert np.array_equal(np.sort(taken), np.arange(35))
    assert np.all(a.split["test"] < 30) and np.all(a.split["val"] < 30)  # carved from labeled images only (0..29)
    data = read_image_folder(tmp_path / "photos")
    assert np.array_equal(a.x_test.numpy(), data.x[a.split["test"]])
    assert np.array_equal(a.x_unlabeled.numpy(), data.x[a.split["unlabeled"]])
    assert load(DataConfig(dataset="photos", data_dir=str(tmp_path), labels_per_class=3), 0).y_labeled.bincount().tolist() == [3, 3, 3]


@pytest.mark.parametrize(
    "setup, match",
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no class sub-folders"),
        (lambda root: make_folder(root, classes=("cat",)), "only 1 class folder"),
        (lambda root: (make_folder(root, classes=("cat", "dog")), (root / "owl").mkdir()), "owl has no images"),
        (lambda root: (make_folder(root, classes=("cat", "dog")), write(root / "loose.png", pixels(0, 3))), "outside any class folder"),
        (lambda root: (make_folder(root, classes=("cat", "dog")), (root / "dog" / "bad.png").write_bytes(b"\x89PNG junk")), "photos/dog/bad.png"),
        (lambda root: (make_folder(root, classes=("cat", "dog")), truncate(root / "cat" / "03.png")), "photos/cat/03.png"),
        (
            lambda root: (make_folder(root, classes=("cat", "dog")), write(root / "dog" / "big.png", np.zeros((9, 9, 3), np.uint8))),
            "dog/big.png .* 9x9 .* 5x4 .*resize.*data.image_size",
        ),
        (
            lambda root: (make_folder(root, classes=("cat", "dog")), Image.fromarray(np.zeros((4, 5), np.uint16)).save(root / "cat" / "deep.png")),
            "cat/deep.png .*8-bit",
        ),
    ],
    ids=["missing", "empty", "one-class", "empty-class", "loose-image", "corrupt", "truncated", "mixed-sizes", "16-bit"],
)
def test_bad_folders(tmp_path, setup, match):
    root = tmp_path / "photos"
    setup(root)
    with pytest.raises(SemimixError, match=match):
        load(DataConfig(dataset=str(root)), 0)


def test_too_few_labeled_images_left_for_training(tmp_path):
    make_folder(tmp_path / "photos", classes=("cat", "dog"), per_class=1)
    with pytest.raises(SemimixError, match="left for training"):
        load(DataConfig(dataset=str(tmp_path / "photos"), test_size=1), 0)


def test_resize_while_reading(tmp_path):
    make_folder(tmp_path / "photos", classes=("cat", "dog"), unlabeled=0)
    write(tmp_path / "photos" / "dog" / "big.png", np.zeros((9, 9, 3), np.uint8))
    data = read_image_folder(tmp_path / "photos", size=(8, 6))
    assert data.x.shape == (13, 3, 6, 8)


def mixed_sizes(root: Path) -> None:
    """Two classes of 5x4 images, one 9x7 image among them."""
    make_folder(root, classes=("cat", "dog"), per_class=6, unlabeled=2)
    write(root / "dog" / "big.png", np.random.default_rng(5).integers(0, 256, (7, 9, 3), dtype=np.uint8))


@pytest.mark.parametrize("stream", [False, True], ids=["in-memory", "streamed"])
def test_image_size_resizes_a_folder_of_mixed_sizes(tmp_path, stream: bool):
    mixed_sizes(tmp_path / "photos")
    bundle = load(DataConfig(dataset=str(tmp_path / "photos"), image_size=[6, 8], stream=stream, labels=4), 0)
    assert bundle.input_shape == (3, 6, 8)
    every = np.concatenate([np.asarray(bundle.x_labeled[:]), np.asarray(bundle.x_unlabeled[:])])
    big = np.asarray(Image.open(tmp_path / "photos" / "dog" / "big.png").resize((8, 6), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert any(np.array_equal(row, big) for row in every)
    assert load(DataConfig(dataset=str(tmp_path / "photos"), image_size=6, labels=4), 0).input_shape == (3, 6, 6)


@pytest.mark.parametrize("value", [0, -3, [4, 5, 6], "big", [4.5, 3], True])
def test_bad_image_size_is_named(tmp_path, value):
    mixed_sizes(tmp_path / "photos")
    with pytest.raises(SemimixError, match=r"data.image_size must be a positive number of pixels or \[height, width\]"):
        load(DataConfig(dataset=str(tmp_path / "photos"), image_size=value), 0)


def test_image_size_on_a_dataset_that_is_not_a_folder_is_refused():
    from semimix.data import load_dataset

    with pytest.raises(SemimixError, match="image_size=32 applies to image folders only, not digits"):
        load_dataset(DataConfig(dataset="digits", image_size=32), 0)


def test_predict_resizes_images_as_the_run_did(tmp_path, capsys):
    from semimix import api
    from semimix.cli import main

    mixed_sizes(tmp_path / "photos")
    cfg = api.load_config(
        "digits",
        method="supervised",
        data={"dataset": str(tmp_path / "photos"), "labels": 4, "image_size": [6, 8]},
        steps=2,
        progress=False,
        out=str(tmp_path / "run"),
    )
    api.train(cfg)
    write(tmp_path / "new" / "odd.png", pixels(9, 3)[:3])  # 5x3: neither the training sizes nor the run's
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "new" / "odd.png")]) == 0
    row = capsys.readouterr().out.splitlines()[1].split(",")
    model = api.load_model(tmp_path / "run")
    resized = np.asarray(Image.open(tmp_path / "new" / "odd.png").resize((8, 6), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.allclose([float(p) for p in row[3:]], model.predict_proba(resized[None]), atol=1e-6)
