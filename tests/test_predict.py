"""Using a trained model without its training data (issue 27): checkpoints carry what inference
needs, ``load_model`` rebuilds the model from them alone — the same predictions as ``load_run``,
with torch's global state untouched — and ``semimix predict`` writes them for .npz, .csv and image
inputs, refusing bad input in one line."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

import semimix.data
import semimix.data.load
import semimix.train.trainer
from run_checks import assert_one_line_error
from semimix import api, files
from semimix.cli import main
from semimix.data.preprocess import GlobalContrastNorm, Standardize, ZCAWhiten, build_preprocess, describe_preprocess, rebuild_preprocess
from semimix.errors import SemimixError
from semimix.runs import load_model, load_run
from test_imagefolder import make_folder, pixels, write


def no_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading any dataset fails, wherever it is imported from."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the dataset was read")

    for module in (semimix.data, semimix.data.load, semimix.train.trainer):
        monkeypatch.setattr(module, "load_dataset", refuse)


def reference(run_dir: Path, checkpoint: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Test inputs and labels, and load_run's probabilities, classes and accuracy on them."""
    run = load_run(run_dir, checkpoint)
    x, y = run.split("test")
    probabilities = torch.softmax(run.class_scores(run.logits(x)), dim=1).numpy()
    return x.numpy(), y.numpy(), probabilities, api.predict(run, x), run.evaluate("test")["accuracy"]


def global_state() -> tuple[torch.Tensor, int, int]:
    return torch.get_rng_state(), torch.initial_seed(), torch.get_num_threads()


def assert_same_state(before: tuple[torch.Tensor, int, int]) -> None:
    after = global_state()
    assert torch.equal(before[0], after[0]) and before[1:] == after[1:], "load_model or predicting changed torch's global state"


def checkpoints_only(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the run with its checkpoints alone: no config.yaml, split.npz or metrics."""
    copy = tmp_path / "weights-only"
    shutil.copytree(run_dir / "checkpoints", copy / "checkpoints")
    return copy


# ----------------------------------------------------------------------------- load_model
@pytest.mark.parametrize("checkpoint", ["best", "last"])
def test_load_model_predicts_as_load_run_from_the_checkpoint_alone(finished, tmp_path: Path, monkeypatch, checkpoint: str) -> None:
    run_dir, _ = finished
    x, y, probabilities, classes, accuracy = reference(run_dir, checkpoint)
    copy = checkpoints_only(run_dir, tmp_path)
    no_dataset(monkeypatch)
    torch.manual_seed(1234)
    before = global_state()
    model = load_model(copy, checkpoint, device="cpu", batch_size=64)
    got = model.predict_proba(x)
    assert_same_state(before)
    assert np.allclose(got, probabilities, rtol=0, atol=1e-6) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
    assert np.array_equal(model.predict(x), classes) and np.array_equal(api.predict(copy, x, checkpoint), classes)
    assert model.checkpoint == checkpoint and model.input_shape == (1, 8, 8) and model.device == torch.device("cpu")
    assert list(model.classes_) == [str(d) for d in range(10)] and model.scores_are_logits
    assert not model.model.training
    assert (model.predict(x) == y).mean() == pytest.approx(accuracy)


def test_the_checkpoints_say_what_inference_needs(finished) -> None:
    run_dir, _ = finished
    for name in ("best.pt", "last.pt"):
        entry = files.load_torch(run_dir / "checkpoints" / name)["inference"]  # weights_only loading accepts it
        assert entry["format"] == 1 and entry["model"] == "cnn-small" and entry["input_shape"] == [1, 8, 8]
        assert entry["method"] == "ict" and entry["eval_model"] == "teacher" and entry["has_val_split"]
        assert entry["num_classes"] == entry["outputs"] == 10 and entry["class_names"] == [str(d) for d in range(10)]
        assert entry["preprocess"] is None and entry["input_dtype"] == "float32"  # digits are standardised when loaded


def test_best_of_a_run_whose_best_pt_is_gone_is_refused_as_by_load_run(finished, tmp_path: Path) -> None:
    run_dir, _ = finished
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "checkpoints" / "best.pt").unlink()
    with pytest.raises(SemimixError, match="best.pt is missing") as by_run:
        load_run(copy)
    with pytest.raises(SemimixError, match="best.pt is missing") as by_model:
        load_model(copy)
    assert str(by_model.value) == str(by_run.value)
    assert load_model(copy, "last").checkpoint == "last"
    with pytest.raises(SemimixError, match="best or last"):
        load_model(copy, "first")
    with pytest.raises(SemimixError, match="no such directory"):
        load_model(tmp_path / "nowhere")
    (copy / "checkpoints" / "last.pt").unlink()
    with pytest.raises(SemimixError, match="not a semimix run"):
        load_model(copy, "last")


def test_a_run_from_before_the_inference_entry_opens_the_old_way(finished, tmp_path: Path, capsys) -> None:
    run_dir, _ = finished
    x, _, probabilities, classes, _ = reference(run_dir, "best")
    copy = tmp_path / "old"
    shutil.copytree(run_dir, copy)
    for name in ("best.pt", "last.pt"):
        state = files.load_torch(copy / "checkpoints" / name)
        del state["inference"]
        files.save_torch(copy / "checkpoints" / name, state)
    capsys.readouterr()
    before = global_state()
    model = load_model(copy, device="cpu")
    assert "trained before checkpoints kept the preprocessing" in capsys.readouterr().err
    assert np.allclose(model.predict_proba(x), probabilities, rtol=0, atol=1e-6) and np.array_equal(model.predict(x), classes)
    assert_same_state(before)
    assert model.checkpoint == "best" and list(model.classes_) == [str(d) for d in range(10)]


def test_a_negative_cosine_head_predicts_through_its_class_scores_and_final_weights(tmp_path: Path, monkeypatch) -> None:
    """Untied MixUp with the NC loss: the model outputs nc_dim features, classes by cosine; no
    validation split, so "best" is the final weights."""
    cfg = api.load_config(
        "digits",
        method="untied-mixup",
        method_params={"untied-mixup": {"pairing": "independent", "loss": "nc", "nc_dim": 16}},
        data={"val_size": 0},
        steps=4,
        eval_every=2,
        unlabeled_batch_size=32,
        progress=False,
        out=str(tmp_path / "nc"),
    )
    api.train(cfg)
    run = load_run(tmp_path / "nc")
    assert run.checkpoint == "final"
    x, _ = run.split("test")
    scores = run.class_scores(run.logits(x))
    no_dataset(monkeypatch)
    model = load_model(tmp_path / "nc", device="cpu")
    assert model.checkpoint == "final" and not model.scores_are_logits
    assert np.allclose(model.decision_function(x), scores.numpy(), rtol=0, atol=1e-6)
    assert np.array_equal(model.predict(x), scores.argmax(dim=1).numpy())
    assert np.allclose(model.predict_proba(x), torch.softmax(scores, dim=1).numpy(), rtol=0, atol=1e-6)


def test_bad_arrays_are_refused(finished) -> None:
    model = load_model(finished[0], device="cpu")
    with pytest.raises(SemimixError, match=r"shape \(64,\), but the run's model takes \(1, 8, 8\)"):
        model.predict(np.zeros((3, 64)))
    with pytest.raises(SemimixError, match="numbers"):
        model.predict(np.array([["a"] * 64]))
    assert model.predict_proba(np.zeros((0, 1, 8, 8))).shape == (0, 10)


# ----------------------------------------------------------------------------- preprocessing
def images(n: int = 80, shape: tuple[int, ...] = (3, 4, 4)) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 256, size=(n, *shape), dtype=np.uint8))


def through_weights_only(value: object) -> object:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("kind", ["standardize", "zca", "gcn-zca", "ict-scale", "vat-scale", "none"])
def test_every_preprocessing_kind_round_trips(kind: str) -> None:
    x = images()
    module = build_preprocess(kind, [x])
    rebuilt = rebuild_preprocess(through_weights_only(describe_preprocess(module)))
    if module is None:
        assert rebuilt is None
        return
    assert rebuilt is not None
    assert [type(m) for m in module.modules()] == [type(m) for m in rebuilt.modules()]
    assert torch.equal(module(x.float()), rebuilt(x.float()))


def test_each_module_round_trips_and_others_are_refused() -> None:
    x = images().float()
    for module in (Standardize([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), GlobalContrastNorm(eps=1e-3), ZCAWhiten(torch.zeros(48), torch.eye(48) * 2)):
        rebuilt = rebuild_preprocess(through_weights_only(describe_preprocess(module)))
        assert type(rebuilt) is type(module) and torch.equal(rebuilt(x), module(x))
    assert rebuild_preprocess(describe_preprocess(GlobalContrastNorm(eps=1e-3))).eps == 1e-3  # type: ignore[union-attr]
    with pytest.raises(SemimixError, match="cannot describe"):
        describe_preprocess(nn.Sequential(Standardize([0.0], [1.0]), nn.ReLU()))
    with pytest.raises(SemimixError, match="unknown preprocessing kind"):
        rebuild_preprocess({"kind": "sharpen"})
    with pytest.raises(SemimixError, match="damaged"):
        rebuild_preprocess({"kind": "standardize", "mean": torch.zeros(1)})


# ----------------------------------------------------------------------------- semimix predict
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_npz_and_csv(finished, tmp_path: Path, capsys) -> None:
    """Files hold rows as the data came (digits: pixels / 16), before the loader's standardisation
    (data.normalize), which the checkpoint keeps and ``semimix predict`` applies."""
    run_dir, _ = finished
    _, _, probabilities, classes, _ = reference(run_dir, "best")
    x = load_digits().images[load_run(run_dir).data.split["test"]][:, None] / 16.0
    assert np.array_equal(load_model(run_dir).from_file_units(x), load_run(run_dir).split("test")[0].numpy())
    np.savez(tmp_path / "x.npz", X=x[:7], y=np.zeros(7))
    code, out, _ = run_cli(capsys, "predict", str(run_dir), str(tmp_path / "x.npz"))
    rows = read_csv(out)
    assert code == 0 and list(rows[0]) == ["input", "prediction", "class_name", *(f"p_{d}" for d in range(10))]
    assert [r["input"] for r in rows] == [str(i) for i in range(7)]
    assert [int(r["prediction"]) for r in rows] == list(classes[:7]) and [r["class_name"] for r in rows] == [str(c) for c in classes[:7]]
    got = np.array([[float(r[f"p_{d}"]) for d in range(10)] for r in rows])
    assert np.allclose(got, probabilities[:7], rtol=0, atol=1e-6)

    flat = x[:5].reshape(5, -1)
    (tmp_path / "x.csv").write_text(",".join(f"f{i}" for i in range(64)) + "\n" + "\n".join(",".join(map(repr, row.tolist())) for row in flat) + "\n")
    out_file = tmp_path / "out" / "predictions.csv"
    code, out, _ = run_cli(capsys, "predict", str(run_dir), str(tmp_path / "x.csv"), str(tmp_path / "x.npz"), "--out", str(out_file), "--checkpoint", "last")
    assert code == 0 and "wrote 12 predictions (last weights)" in out
    rows = read_csv(out_file.read_text())
    assert [r["input"] for r in rows] == [f"{tmp_path / 'x.csv'}:{i}" for i in range(5)] + [f"{tmp_path / 'x.npz'}:{i}" for i in range(7)]
    assert [r["prediction"] for r in rows[:5]] == [r["prediction"] for r in rows[5:10]]


@pytest.mark.parametrize(
    "name, content, phrases",
    [
        ("wide.csv", "1,2,3\n4,5,6\n", ["3 features", "64 features per row"]),
        ("label.csv", "\n".join(",".join(["0"] * 65) for _ in range(2)), ["65 features", "drop the label column"]),
        ("empty.csv", "a,b\n", ["no inputs to predict"]),
        ("words.csv", "1,2\n3,x\n", ["line 2", "'x' is not a number"]),
        ("ragged.csv", "1,2\n3\n", ["line 2", "1 values"]),
        ("notes.txt", "hello", ["unknown kind of file .txt"]),
        ("shape.npz", np.zeros((2, 8, 8)), ["samples of shape (8, 8)", "(1, 8, 8)"]),
        ("two.npz", {"a": np.zeros((2, 64)), "b": np.zeros((2, 64))}, ["arrays a, b", "none named X"]),
        ("nan.npz", np.full((2, 64), np.nan), ["sample 0", "NaN"]),
        ("broken.npz", b"not a zip", ["cannot read"]),
        ("pic.png", np.zeros((8, 8), np.uint8), ["float32 inputs", "not 8-bit image pixels"]),
        ("missing.npz", None, ["does not exist"]),
    ],
)
def test_bad_inputs_are_one_line_and_write_nothing(finished, tmp_path: Path, capsys, name: str, content: object, phrases: list[str]) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    elif isinstance(content, np.ndarray) and name.endswith(".png"):
        Image.fromarray(content).save(path)
    elif isinstance(content, np.ndarray):
        np.savez(path, X=content)
    out_file = tmp_path / "predictions.csv"
    code, out, err = run_cli(capsys, "predict", str(finished[0]), str(path), "--out", str(out_file))
    assert_one_line_error(code, err, *phrases)
    assert not out_file.exists() and out == ""


def test_bad_run_or_options_are_one_line(finished, tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "x.npz", X=np.zeros((2, 64)))
    assert_one_line_error(*run_cli(capsys, "predict", str(tmp_path / "nowhere"), str(tmp_path / "x.npz"))[::2], "no such directory")
    assert_one_line_error(*run_cli(capsys, "predict", str(finished[0]), str(tmp_path / "x.npz"), "--batch-size", "0")[::2], "batch size")
    assert_one_line_error(*run_cli(capsys, "predict", str(finished[0]), str(tmp_path / "x.npz"), "--device", "tpu")[::2], "unknown device")
    assert_one_line_error(*run_cli(capsys, "predict", str(finished[0]), str(tmp_path / "x.npz"), "--out", str(tmp_path))[::2], "is a folder")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> tuple[Path, Path]:
    """A few steps on a folder of 5x4 RGB PNGs (cat, dog, owl), and the folder."""
    root = tmp_path_factory.mktemp("images")
    make_folder(root / "photos")
    cfg = api.load_config(
        "digits",
        method="supervised",
        data={"dataset": str(root / "photos"), "labels": 9, "val_size": 3, "test_size": 3},
        steps=3,
        eval_every=3,
        labeled_batch_size=4,
        progress=False,
        out=str(root / "run"),
    )
    api.train(cfg)
    return root / "run", root / "photos"


def test_predict_a_folder_of_images_without_the_training_folder(image_run, tmp_path: Path, capsys, monkeypatch) -> None:
    run_dir, photos = image_run
    run = load_run(run_dir)
    listed = sorted((photos / "cat").glob("*.png"))
    x = np.stack([np.asarray(Image.open(p)).transpose(2, 0, 1) for p in listed])
    expected = torch.softmax(run.class_scores(run.logits(torch.from_numpy(x))), dim=1).numpy()
    inputs = tmp_path / "new"
    shutil.copytree(photos / "cat", inputs / "cats")
    write(inputs / "gray.png", pixels(7, 1))  # a grayscale image fills the run's three channels
    moved = tmp_path / "elsewhere"
    photos.rename(moved)  # the training folder is gone
    no_dataset(monkeypatch)
    try:
        out_file = tmp_path / "p.csv"
        code, _, _ = run_cli(capsys, "predict", str(run_dir), str(inputs), "--out", str(out_file))
        rows = read_csv(out_file.read_text())
        assert code == 0 and list(rows[0])[:3] == ["input", "prediction", "class_name"] and list(rows[0])[3:] == ["p_cat", "p_dog", "p_owl"]
        assert [r["input"] for r in rows] == [str(inputs / "cats" / p.name) for p in listed] + [str(inputs / "gray.png")]
        got = np.array([[float(r[f"p_{c}"]) for c in ("cat", "dog", "owl")] for r in rows[:-1]])
        assert np.allclose(got, expected, rtol=0, atol=1e-6)
        assert all(r["class_name"] == ["cat", "dog", "owl"][int(r["prediction"])] for r in rows)
        code, out, _ = run_cli(capsys, "predict", str(run_dir), str(inputs / "gray.png"))
        assert code == 0 and len(read_csv(out)) == 1

        write(inputs / "big.png", np.zeros((9, 9, 3), np.uint8))
        code, out, err = run_cli(capsys, "predict", str(run_dir), str(inputs), "--out", str(tmp_path / "q.csv"))
        assert_one_line_error(code, err, "big.png is 9x9 pixels", "5x4 images")
        (inputs / "big.png").write_bytes(b"\x89PNG junk")
        code, out, err = run_cli(capsys, "predict", str(run_dir), str(inputs), "--out", str(tmp_path / "q.csv"))
        assert_one_line_error(code, err, "cannot read image", "big.png")
        (tmp_path / "none").mkdir()
        assert_one_line_error(*run_cli(capsys, "predict", str(run_dir), str(tmp_path / "none"))[::2], "has no images")
        assert not (tmp_path / "q.csv").exists()
    finally:
        moved.rename(photos)
    entry = files.load_torch(run_dir / "checkpoints" / "best.pt")["inference"]
    assert entry["input_dtype"] == "uint8" and entry["preprocess"]["kind"] == "standardize"
