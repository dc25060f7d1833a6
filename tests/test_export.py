"""``semimix export`` (issue 27, item 3): one file per run that takes raw inputs — the loader's
standardisation, the fitted preprocessing and the method's scoring folded in — and gives the run's
own class scores; checked against the run before it is written, never half-written."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import semimix.workflows.export as export_module
from run_checks import assert_one_line_error, snapshot
from semimix import api
from semimix.cli import main
from semimix.runs import load_model, load_run
from semimix.workflows.export import METADATA, export_run
from test_imagefolder import make_folder


def raw_digits(run_dir: Path, n: int = 7) -> np.ndarray:
    """The run's first ``n`` test images as the dataset holds them: 0..16 pixel values, (n, 1, 8, 8)."""
    rows = load_run(run_dir).data.split["test"][:n]
    return load_digits().images[rows][:, None].astype(np.float32)


def run_artefact(path: Path, fmt: str, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """The exported file's scores for ``x`` and its metadata, loaded as a user would."""
    if fmt == "torchscript":
        extra = {METADATA: ""}
        module = torch.jit.load(str(path), _extra_files=extra)
        return module(torch.from_numpy(x)).detach().numpy(), json.loads(extra[METADATA])
    if fmt == "pt2":
        extra = {METADATA: ""}
        program = torch.export.load(str(path), extra_files=extra)
        return program.module()(torch.from_numpy(x)).detach().numpy(), json.loads(extra[METADATA])
    import onnx
    import onnxruntime

    metadata = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0], json.loads(metadata[METADATA])


needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("onnx", "onnxscript", "onnxruntime")), reason="the onnx extra is not installed"
)
FORMATS = ["torchscript", "pt2", pytest.param("onnx", marks=[pytest.mark.slow, needs_onnx])]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_takes_raw_inputs_and_gives_the_runs_scores(finished, tmp_path: Path, fmt: str) -> None:
    run_dir, _ = finished
    x = raw_digits(run_dir)  # an odd batch: the export was traced at another size
    model = load_model(run_dir)
    expected = model.decision_function(model.from_file_units(x))
    done = export_run(run_dir, fmt, tmp_path / f"model.{fmt}")
    got, metadata = run_artefact(done.path, fmt, x)
    assert got.shape == (7, 10) and np.allclose(got, expected, rtol=0, atol=1e-5)
    assert np.array_equal(got.argmax(1), model.predict(model.from_file_units(x)))
    assert done.max_difference is not None and done.max_difference < 1e-4
    assert metadata["class_names"] == [str(c) for c in range(10)] and metadata["input_shape"] == [1, 8, 8] and metadata["checkpoint"] == "best"


def test_default_path_is_inside_the_run_and_the_cli_says_how_to_load_it(finished, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished[0], run_dir)
    code = main(["export", str(run_dir), "--checkpoint", "last"])
    out = capsys.readouterr().out
    path = run_dir / "export" / "model-last.pt"
    assert code == 0 and path.exists() and f"wrote {path} (torchscript, last weights)" in out and "torch.jit.load(path)" in out
    x = raw_digits(run_dir, 3)
    model = load_model(run_dir, "last")
    assert np.allclose(run_artefact(path, "torchscript", x)[0], model.decision_function(model.from_file_units(x)), atol=1e-5)


def image_run(root: Path, **settings) -> Path:
    make_folder(root / "photos")
    cfg = api.load_config(
        "digits",
        data={"dataset": str(root / "photos"), "labels": 9, "val_size": 3, "test_size": 3, **settings.pop("data", {})},
        steps=3,
        eval_every=3,
        labeled_batch_size=4,
        unlabeled_batch_size=8,
        progress=False,
        out=str(root / "run"),
        **settings,
    )
    api.train(cfg)
    return root / "run"


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"method": "ict", "data": {"preprocess": "zca", "zca_epsilon": 0.1}}, id="uint8-pixels-zca-teacher"),
        pytest.param({"method": "supervised", "method_params": {"supervised": {"loss": "nc", "nc_dim": 8}}}, id="cosine-scores"),
    ],
)
def test_export_folds_in_image_preprocessing_and_cosine_scores(tmp_path: Path, settings: dict) -> None:
    run_dir = image_run(tmp_path, **settings)
    pixels = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 5)).astype(np.float32)
    model = load_model(run_dir)
    done = export_run(run_dir, "torchscript", tmp_path / "m.pt")
    got, metadata = run_artefact(done.path, "torchscript", pixels)
    assert np.allclose(got, model.decision_function(pixels), rtol=0, atol=1e-4)
    assert metadata["class_names"] == ["cat", "dog", "owl"]
    assert ("logits" in metadata["output"]) == model.scores_are_logits


def test_an_export_that_disagrees_with_the_run_writes_nothing(finished, tmp_path: Path, monkeypatch, capsys) -> None:
    target = tmp_path / "model.pt"
    target.write_bytes(b"an earlier export")
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # any difference, even 0, now counts as a mismatch
    before = snapshot(tmp_path)
    code = main(["export", str(finished[0]), "--out", str(target)])
    assert_one_line_error(code, capsys.readouterr().err, "gives scores up to", "nothing was written")
    assert snapshot(tmp_path) == before


def test_bad_requests_are_one_line(finished, tmp_path: Path, capsys, monkeypatch) -> None:
    def cli(*argv: str) -> tuple[int, str]:
        code = main(list(argv))
        return code, capsys.readouterr().err

    assert_one_line_error(*cli("export", str(tmp_path / "nowhere")), "no such directory")
    assert_one_line_error(*cli("export", str(finished[0]), "--out", str(tmp_path)), "is a folder")
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if the onnx extra were not installed
    assert_one_line_error(*cli("export", str(finished[0]), "--format", "onnx", "--out", str(tmp_path / "m.onnx")), "pip install 'semimix[onnx]'")
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_run(finished[0], "tflite")


@pytest.mark.slow
@needs_onnx
def test_onnx_without_onnxruntime_is_written_but_says_it_was_not_checked(finished, tmp_path: Path, monkeypatch) -> None:
    import onnx

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    done = export_run(finished[0], "onnx", tmp_path / "m.onnx")
    assert done.max_difference is None and "onnxruntime is not installed" in done.checked
    onnx.checker.check_model(onnx.load(str(done.path)))  # a complete, valid file was written
