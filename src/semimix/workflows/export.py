"""``semimix export``'s work: a run's trained model as one self-contained file that takes *raw* inputs
— as the run's data files hold them (0..255 pixels for images), like ``semimix predict`` — with the
loader's standardisation, the fitted preprocessing (standardize, ZCA, ...) and the method's class
scoring folded in, and gives (N, C) class scores (logits: their softmax is the class probabilities).

Formats: ``torchscript`` (``torch.jit.load``; runs without Python model code, though torch deprecates
it), ``pt2`` (``torch.export``; ``torch.export.load(path).module()``, torch's recommended successor),
and ``onnx`` (any ONNX runtime; needs the ``onnx`` extra). Each artefact carries ``semimix.json``
metadata (run, checkpoint, input shape and dtype, class names). The batch axis is dynamic.

Before anything is written, the serialised artefact is loaded back and run on probe inputs of another
batch size than the one it was traced with, and its scores are compared with the run's own model
(``load_model``) on the same inputs; a mismatch is an error and no file is written. An ONNX file is
only checked where onnxruntime is installed (the ``onnx`` extra installs it), as ``Exported.checked`` says.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semimix import __version__, files
from semimix.errors import SemimixError
from semimix.models import ModelSpec
from semimix.runs import load_model
from semimix.train.inference import TrainedModel

FORMATS = {"torchscript": ".pt", "pt2": ".pt2", "onnx": ".onnx"}
HOW_TO_LOAD = {
    "torchscript": "torch.jit.load(path)",
    "pt2": "torch.export.load(path).module()",
    "onnx": "onnxruntime.InferenceSession(path), input 'x'",
}
METADATA = "semimix.json"
TRACE_BATCH, PROBE_BATCH = 2, 3  # probed at another batch size than traced, so a batch size baked into the graph is caught
TOLERANCE = 1e-4  # max |exported - run| relative to 1 + max |run score|: float32 reassociation, not a different model


class RawInputClassifier(nn.Module):
    """Raw inputs → class scores: the loader's standardisation, the fitted preprocessing, the model
    and the method's scoring, as ``TrainedModel.decision_function(from_file_units(x))`` computes them."""

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__()
        standardization = trained.loader_standardization
        self.standardize = standardization is not None
        mean, std = standardization if standardization is not None else (np.zeros(1), np.ones(1))
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.preprocess = trained.preprocess if trained.preprocess is not None else nn.Identity()
        self.model = trained.model
        self.class_scores: Callable[[torch.Tensor], torch.Tensor] | None = trained.class_scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.standardize:
            x = (x - self.mean) / self.std
        outputs = self.model(self.preprocess(x)).float()
        return outputs if self.class_scores is None else self.class_scores(outputs)


@dataclass
class Exported:
    """What ``export_run`` wrote; ``max_difference`` is the largest |exported − run| score on the
    probe inputs, or None when the file could not be checked (``checked`` says why not)."""

    path: Path
    format: str
    checkpoint: str
    input_shape: tuple[int, ...]
    class_names: list[str]
    max_difference: float | None
    checked: str

    @property
    def how_to_load(self) -> str:
        return HOW_TO_LOAD[self.format]


def default_path(run_dir: Path, fmt: str, checkpoint: str) -> Path:
    return run_dir / "export" / f"model-{checkpoint}{FORMATS[fmt]}"


def export_run(
    run_dir: str | Path, fmt: str = "torchscript", out: str | Path | None = None, checkpoint: str = "best", model: ModelSpec | None = None
) -> Exported:
    """Write the run's ``checkpoint`` model as ``fmt`` to ``out`` (default ``RUN/export/model-<checkpoint>.<ext>``),
    checked against the run's model first (module docstring); ``model`` is the network of a run that
    trained one passed from Python. Returns what was written."""
    if fmt not in FORMATS:
        raise SemimixError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    trained = load_model(run_dir, checkpoint, device="cpu", model=model)
    path = Path(out) if out is not None else default_path(Path(run_dir), fmt, trained.checkpoint)
    if path.is_dir():
        raise SemimixError(f"--out {path} is a folder; give the path of the file to write")
    module = RawInputClassifier(trained).eval()
    metadata = json.dumps(
        {
            "semimix_version": __version__,
            "run_dir": str(Path(run_dir).resolve()),
            "checkpoint": trained.checkpoint,
            "input_shape": list(trained.input_shape),
            "input": f"raw {trained.input_dtype} values as the run's data files hold them, cast to float32",
            "output": "class scores" + (" (logits; softmax gives probabilities)" if trained.scores_are_logits else " (cosines; argmax is the class)"),
            "class_names": [str(c) for c in trained.classes_],
        }
    )
    example = torch.zeros(TRACE_BATCH, *trained.input_shape)
    with torch.no_grad(), _quiet():
        data, run_exported = SERIALISERS[fmt](module, example, metadata)
        probe = probe_inputs(trained, PROBE_BATCH)
        expected = torch.from_numpy(trained.decision_function(trained.from_file_units(probe.numpy())))
        other = "pt2" if fmt == "torchscript" else "torchscript"
        got = _captured(f"the exported {fmt} file fails on a batch of {PROBE_BATCH} inputs", lambda: run_exported(data, probe), other)
    difference = None if got is None else float((got - expected).abs().max())
    if difference is not None and difference > TOLERANCE * (1 + float(expected.abs().max())):
        raise SemimixError(
            f"the {fmt} export of {run_dir} gives scores up to {difference:.3g} away from the run's model on the same inputs; "
            "nothing was written — please report this with the run's model name"
        )
    try:
        files.atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        raise SemimixError(f"cannot write {path} ({exc.strerror or exc})") from None
    checked = "onnxruntime is not installed (pip install 'semimix[onnx]')" if got is None else f"on {PROBE_BATCH} probe inputs"
    return Exported(path, fmt, trained.checkpoint, trained.input_shape, [str(c) for c in trained.classes_], difference, checked)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' chatter held back (torch.jit's deprecation notice, tracer warnings, the ONNX
    exporter's progress lines and its notes about torchvision ops): the check against the run is what counts."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_log.setLevel(level)


def probe_inputs(trained: TrainedModel, n: int) -> torch.Tensor:
    """``n`` seeded random raw inputs of the run's kind: 0..255 integers for uint8 images, else
    values spread as the loader's standardisation says the files' values are (else standard normal)."""
    generator = torch.Generator().manual_seed(0)
    shape = (n, *trained.input_shape)
    if trained.input_dtype == "uint8":
        return torch.randint(0, 256, shape, generator=generator).float()
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    if trained.loader_standardization is not None:
        mean, std = trained.loader_standardization
        x = x * torch.as_tensor(std) + torch.as_tensor(mean)
    return x.float()


# Each serialiser returns the artefact's bytes and a function that loads those bytes and runs them
# on inputs (None where the format's runtime is missing).
Runner = Callable[[bytes, torch.Tensor], torch.Tensor | None]


def _torchscript(module: nn.Module, example: torch.Tensor, metadata: str) -> tuple[bytes, Runner]:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.trace(module, example, check_trace=False), buffer, _extra_files={METADATA: metadata})

    def run(data: bytes, x: torch.Tensor) -> torch.Tensor:
        return torch.jit.load(io.BytesIO(data), map_location="cpu")(x)

    return buffer.getvalue(), run


def _dynamic_batch() -> dict[str, Any]:
    return {"x": {0: torch.export.Dim("batch")}}


def _pt2(module: nn.Module, example: torch.Tensor, metadata: str) -> tuple[bytes, Runner]:
    buffer = io.BytesIO()
    program = _captured("torch.export cannot capture this model", lambda: torch.export.export(module, (example,), dynamic_shapes=_dynamic_batch()))
    torch.export.save(program, buffer, extra_files={METADATA: metadata})

    def run(data: bytes, x: torch.Tensor) -> torch.Tensor:
        return torch.export.load(io.BytesIO(data)).module()(x)

    return buffer.getvalue(), run


def _captured(failure: str, capture: Callable[[], Any], other_format: str = "torchscript") -> Any:
    """What ``capture`` returns; its failure — of an exporter's many kinds, all meaning that this
    model's code cannot be captured whole — as one line that says ``failure`` and what to try."""
    try:
        return capture()
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SemimixError(f"{failure} ({reason}); nothing was written — try --format {other_format}") from None


def _onnx(module: nn.Module, example: torch.Tensor, metadata: str) -> tuple[bytes, Runner]:
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it; imported here to name the extra)
    except ImportError:
        raise SemimixError("ONNX export needs the onnx extra: pip install 'semimix[onnx]'") from None
    program = _captured(
        "the ONNX exporter cannot convert this model",
        lambda: torch.onnx.export(module, (example,), dynamic_shapes=_dynamic_batch(), input_names=["x"], output_names=["scores"], verbose=False),
    )
    program.model.metadata_props[METADATA] = metadata
    data = program.model_proto.SerializeToString()

    def run(data: bytes, x: torch.Tensor) -> torch.Tensor | None:
        try:
            import onnxruntime
        except ImportError:
            return None
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])

    return data, run


SERIALISERS: dict[str, Callable[[nn.Module, torch.Tensor, str], tuple[bytes, Runner]]] = {"torchscript": _torchscript, "pt2": _pt2, "onnx": _onnx}
