"""Streamed image folders: FileImages reads what the in-memory path reads, training through the
DataLoader gives the in-memory run's weights bit for bit, and a streamed run resumes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semimix import files
from semimix.api import attack, load_config, paths, train
from semimix.data import DataConfig, streaming
from semimix.data.imagefolder import load
from semimix.data.readers.imagefolder import read_image_folder
from semimix.data.streaming import FileImages
from semimix.errors import SemimixError
from semimix.train.resume import resume_trainer
from semimix.workflows.scar import scar

SIZE = 6  # tiny square images


def make_folder(root: Path, per_class: int = 12, unlabeled: int = 16, channels: int = 3) -> Path:
    rng = np.random.default_rng(0)
    names = [f"{c}/{i:02d}.png" for c in ("cat", "dog") for i in range(per_class)] + [f"unlabeled/u{i:02d}.png" for i in range(unlabeled)]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shape = (SIZE, SIZE, 3) if channels == 3 else (SIZE, SIZE)
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if name.startswith("dog"):
            pixels[..., : SIZE // 2] //= 4  # something to learn
        Image.fromarray(pixels).save(root / name)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("data") / "photos")


def test_file_images_index_like_the_decoded_tensor(folder: Path) -> None:
    data = read_image_folder(folder)
    images = FileImages.open([folder / name for name in data.files])
    assert len(images) == len(data.x) and images.shape == data.x.shape and images.dtype == torch.uint8
    x = torch.from_numpy(data.x)
    for index in (torch.tensor([3, 0, 3]), np.array([5, -1]), [2], slice(4, 9), slice(None, None, 7)):
        assert torch.equal(images[index], x[index])
    assert torch.equal(images[2], x[2]) and torch.equal(images.subset(np.array([7, 1]))[:], x[[7, 1]])
    with pytest.raises(IndexError):
        images[[len(images)]]


def test_bad_files_are_named_when_decoded(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "photos", per_class=2, unlabeled=0, channels=1)
    Image.fromarray(np.zeros((SIZE, SIZE + 1), np.uint8)).save(root / "dog" / "wide.png")
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(root / "dog" / "rgb.png")
    (root / "dog" / "junk.png").write_bytes(b"\x89PNG junk")
    paths = sorted(root.rglob("*.png"))
    images = FileImages.open(paths)  # cat/00.png: grayscale
    assert images.shape == (len(paths), 1, SIZE, SIZE)
    checks = {
        "wide.png": f"wide.png is {SIZE + 1}x{SIZE} .* first image .*cat/00.png is {SIZE}x{SIZE}; resize",
        "rgb.png": "rgb.png is in colour .* grayscale",
        "junk.png": "cannot read image .*junk.png",
    }
    for name, match in checks.items():
        with pytest.raises(SemimixError, match=match):
            images[[paths.index(root / "dog" / name)]]
    assert images[[0, 1]].shape == (2, 1, SIZE, SIZE)  # the good files still read


def test_streamed_bundle_matches_the_in_memory_one(folder: Path, monkeypatch) -> None:
    cfg = dict(dataset=str(folder), labels=8, val_size=4, test_size=4, preprocess="zca")
    memory, streamed = load(DataConfig(**cfg, stream=False), 3), load(DataConfig(**cfg, stream=True), 3)
    assert all(np.array_equal(memory.split[k], streamed.split[k]) for k in memory.split)
    for name in ("x_labeled", "x_unlabeled", "x_val", "x_test"):
        files_, tensor = getattr(streamed, name), getattr(memory, name)
        assert isinstance(files_, FileImages) and torch.equal(files_[:], tensor), name
    for key, value in memory.preprocess.state_dict().items():
        assert torch.equal(value, streamed.preprocess.state_dict()[key]), key
    assert isinstance(load(DataConfig(dataset=str(folder)), 0).x_labeled, torch.Tensor)  # auto: small, in memory
    monkeypatch.setattr(streaming, "STREAM_BYTES", len(streamed.split["unlabeled"]) * 3 * SIZE * SIZE)
    assert isinstance(load(DataConfig(dataset=str(folder)), 0).x_labeled, FileImages)  # auto: above the threshold


def folder_config(folder: Path, out: Path, stream: bool, steps: int = 6):
    return load_config(
        "digits",
        method="untied-mixup",  # labeled, second labeled and unlabeled streams
        method_params={"untied-mixup": {"pairing": "independent"}},
        data={"dataset": str(folder), "labels": 8, "val_size": 4, "test_size": 4, "stream": stream},
        steps=steps,
        eval_every=2,
        log_every=2,
        labeled_batch_size=4,
        unlabeled_batch_size=8,
        progress=False,
        out=str(out),
        device="cpu",
    )


def weights(run: Path) -> dict[str, torch.Tensor]:
    state = files.load_torch(run / "checkpoints" / "last.pt")
    return {f"{part}.{k}": v for part in ("student", "teacher") if state[part] is not None for k, v in state[part].items()}


def test_streamed_training_equals_in_memory_and_resumes_exactly(folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(streaming, "NUM_WORKERS", 1)  # a worker process that decodes batches ahead
    memory = train(folder_config(folder, tmp_path / "memory", stream=False))
    streamed = train(folder_config(folder, tmp_path / "streamed", stream=True))
    partial = train(folder_config(folder, tmp_path / "resumed", stream=True), until_step=3)
    assert partial["steps"] == 3
    resume_trainer(tmp_path / "resumed").run()
    reference = weights(tmp_path / "memory")
    for run in ("streamed", "resumed"):
        other = weights(tmp_path / run)
        assert reference.keys() == other.keys()
        assert all(torch.equal(value, other[key]) for key, value in reference.items()), run
    assert memory["test_accuracy"] == streamed["test_accuracy"] and memory["best_val_accuracy"] == streamed["best_val_accuracy"]


def test_a_bad_file_met_in_training_stops_with_its_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(streaming, "NUM_WORKERS", 1)
    root = make_folder(tmp_path / "photos", per_class=4, unlabeled=4)
    (root / "unlabeled" / "u03.png").write_bytes(b"\x89PNG junk")  # no fitting pass reads it: normalize false
    cfg = load_config(
        "digits",
        method="mean-teacher",
        data={"dataset": str(root), "labels": 4, "normalize": False, "stream": True},
        steps=4,
        labeled_batch_size=2,
        unlabeled_batch_size=4,
        progress=False,
        out=str(tmp_path / "run"),
        device="cpu",
    )
    with pytest.raises(SemimixError, match=r"^cannot read image .*unlabeled/u03.png .*replace or delete that file$"):
        train(cfg)


def test_attacks_and_paths_on_a_streamed_run_equal_the_in_memory_runs(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """Attacks in pixel units, a black-box source of the other kind and the path study decode the streamed
    split and give the in-memory run's numbers (both runs have the same weights)."""
    monkeypatch.setattr(streaming, "NUM_WORKERS", 1)
    memory, streamed = tmp_path / "memory", tmp_path / "streamed"
    for run, stream in ((memory, False), (streamed, True)):
        train(folder_config(folder, run, stream=stream))
    settings = {"eps": [0.0, 30.0], "eps_units": "pixel", "masking_steps": 0}

    def errors(result: dict) -> list:
        return [(run["errors"], run["perturbation_norms"]) for run in result["runs"]]

    assert errors(attack([streamed], **settings)) == errors(attack([memory], **settings))
    assert errors(attack([streamed], source=memory, **settings)) == errors(attack([memory], source=streamed, **settings))
    study = {"pairs": 2, "points": 3}
    curves = [paths(run, out=tmp_path / run.name, **study)["real_adversarial"] for run in (streamed, memory)]
    assert curves[0] == curves[1]
    with pytest.raises(SemimixError, match="streams its images from files; SCAR needs them in memory"):
        scar(streamed, select_only=True)
