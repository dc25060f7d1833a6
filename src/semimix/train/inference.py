"""What predicting with a trained model needs, saved beside its weights in every checkpoint (the
``"inference"`` entry), and the model rebuilt from it: no Trainer, no dataset, no change to torch's
global RNG or thread count.

The entry is plain data that ``torch.load(weights_only=True)`` reads::

    {"format": 1,
     "model": "cnn-small", "model_params": {...},        # build_model(model, input_shape, outputs, **model_params)
     "input_shape": [1, 8, 8], "input_dtype": "float32",  # what the model's raw inputs are (uint8: 0..255 pixels)
     "resize_images": false,                              # images were resized to input_shape while read (data.image_size)
     "outputs": 10, "num_classes": 10, "class_names": ["0", ...],
     "preprocess": {...} or None,                         # data.preprocess.describe_preprocess of the fitted module
     "method": "ict", "method_params": {...},              # build_method(...): how outputs become class scores
     "eval_model": "teacher" | "student",                  # which weights of last.pt the run evaluates
     "has_val_split": true}                                # whether the run has best.pt weights to look for

A run whose preprocessing cannot be described (a custom module passed to ``Trainer(data=...)``)
saves ``"inference": None``, as runs trained before it existed lack the entry; ``semimix.runs.load_model``
then opens the run the old way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from semimix.data.preprocess import describe_preprocess, rebuild_preprocess
from semimix.errors import SemimixError
from semimix.eval.settings import PREDICT_BATCH
from semimix.methods import build_method
from semimix.methods.base import ClassScores, class_scores_of, scores_are_logits
from semimix.models import ModelSpec, build_model
from semimix.train.hardware import resolve_device

if TYPE_CHECKING:
    from semimix.train.trainer import Trainer

FORMAT = 1
BATCH_SIZE = PREDICT_BATCH


def inference_entry(trainer: Trainer) -> dict[str, Any] | None:
    """The ``"inference"`` entry of ``trainer``'s checkpoints (layout in the module docstring), or
    None when its preprocessing module cannot be described as plain data."""
    data, cfg = trainer.data, trainer.cfg
    try:
        preprocess = describe_preprocess(data.preprocess)
    except SemimixError:
        return None
    return {
        "format": FORMAT,
        "model": trainer.model_name,
        "model_params": dict(cfg.model_params),
        "input_shape": [int(d) for d in data.input_shape],
        "input_dtype": str(data.x_labeled.dtype).removeprefix("torch."),
        "resize_images": cfg.data.image_size is not None,
        "outputs": int(trainer.method.output_dim(data.num_classes)),
        "num_classes": int(data.num_classes),
        "class_names": [str(name) for name in data.class_names],
        "preprocess": preprocess,
        "method": cfg.method,
        "method_params": cfg.params_for_method(),
        "eval_model": trainer.eval_name,
        "has_val_split": len(data.x_val) > 0,
        "loader_standardization": None
        if data.loader_standardization is None
        else {"mean": torch.from_numpy(data.loader_standardization[0]), "std": torch.from_numpy(data.loader_standardization[1])},
    }


class TrainedModel:
    """A trained classifier that predicts for inputs of its run's input shape in the units its data
    splits hold (``Run.split``: 0..255 pixels for images; for float data its loader standardised,
    standardised values — ``from_file_units`` turns rows as the files hold them into those),
    preprocessing them as in training, in eval mode, without gradients, ``batch_size`` rows at a
    time on ``device``.

    ``classes_`` are the class names (class ids 0..C-1 where the data had none); ``predict`` gives
    class ids, ``predict_proba`` the softmax of the class scores, ``decision_function`` the scores
    themselves (logits, or cosines for a negative-cosine head: then ``scores_are_logits`` is false
    and the probabilities only rank the classes). ``checkpoint`` names the weights: best, last or final.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: nn.Module | None,
        class_scores: ClassScores | None,
        num_classes: int,
        class_names: list[str],
        input_shape: tuple[int, ...],
        checkpoint: str,
        device: torch.device,
        run_dir: Path | None = None,
        input_dtype: str = "float32",
        batch_size: int = BATCH_SIZE,
        loader_standardization: tuple[np.ndarray, np.ndarray] | None = None,
        resize_images: bool = False,
    ) -> None:
        self.device = device
        self.resize_images = resize_images  # image files are resized to the input shape, as in training (data.image_size)
        self.loader_standardization = loader_standardization
        self.model = model.to(device).eval()
        self.preprocess = preprocess.to(device) if preprocess is not None else None
        self.class_scores = class_scores
        self.num_classes = num_classes
        self.class_names = list(class_names)
        self.classes_ = np.array(self.class_names) if self.class_names else np.arange(num_classes)
        self.input_shape = tuple(input_shape)
        self.input_dtype = input_dtype
        self.checkpoint = checkpoint
        self.run_dir = run_dir
        self.batch_size = batch_size

    def from_file_units(self, x: np.ndarray) -> np.ndarray:
        """Rows as the run's data files hold them, in the units the model takes: a run whose loader
        standardised its float data (``data.normalize``) applies the same mean and std first, as at
        load; ``predict`` and friends take inputs in the model's units, as ``Run.split`` gives them."""
        if self.loader_standardization is None or len(x) == 0:
            return x
        mean, std = self.loader_standardization
        return ((np.asarray(x, dtype=np.float64) - mean) / std).astype(np.float32)

    @property
    def scores_are_logits(self) -> bool:
        return scores_are_logits(self.class_scores)

    def __repr__(self) -> str:
        where = f" of {self.run_dir}" if self.run_dir is not None else ""
        return f"TrainedModel({self.checkpoint} weights{where}, input shape {self.input_shape}, {self.num_classes} classes, on {self.device})"

    def decision_function(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, C) class scores, whose argmax is the prediction."""
        return self._scores(x).numpy()

    def predict_proba(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, C) softmax of the class scores; each row sums to 1."""
        return torch.softmax(self._scores(x), dim=1).numpy()

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N,) class ids 0..C-1 (``classes_`` names them)."""
        return self._scores(x).argmax(dim=1).numpy()

    @torch.no_grad()
    def _scores(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = self.check_inputs(x)
        self.model.eval()
        out = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            batch = chunk.to(self.device).float() if isinstance(chunk, torch.Tensor) else torch.from_numpy(np.array(chunk, dtype=np.float32)).to(self.device)
            if self.preprocess is not None:
                batch = self.preprocess(batch)
            outputs = self.model(batch).float()
            out.append((outputs if self.class_scores is None else self.class_scores(outputs)).cpu())
        return torch.cat(out) if out else torch.empty(0, self.num_classes)

    def check_inputs(self, x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """``x`` as an array or tensor of samples of the model's input shape, or a SemimixError."""
        if not isinstance(x, torch.Tensor):
            x = np.asarray(x)
            if x.dtype.kind not in "biuf":
                raise SemimixError(f"x must hold numbers, got an array of {x.dtype}")
        if tuple(x.shape[1:]) != self.input_shape:
            raise SemimixError(f"x has samples of shape {tuple(x.shape[1:])}, but the run's model takes {self.input_shape}; reshape x")
        return x


def trained_model(
    entry: dict[str, Any],
    weights: dict[str, torch.Tensor],
    checkpoint: str,
    device: str | torch.device = "auto",
    run_dir: Path | None = None,
    batch_size: int = BATCH_SIZE,
    network: ModelSpec | None = None,
) -> TrainedModel:
    """The model an ``"inference"`` entry describes, with ``weights`` loaded, on ``device``. Building
    it draws its initial weights inside ``fork_rng``, so torch's global RNG is left as it was.
    ``network`` is the nn.Module (loaded in place) or factory of a run that trained one passed from Python."""
    where = f"{run_dir}: " if run_dir is not None else ""
    if entry.get("format") != FORMAT:
        found = entry.get("format")
        raise SemimixError(f"{where}the checkpoint's inference settings are in format {found!r}, not {FORMAT}; was it written by a newer semimix?")
    device = device if isinstance(device, torch.device) else resolve_device(device)
    input_shape = tuple(entry["input_shape"])
    with torch.random.fork_rng(devices=[]):
        method = build_method(entry["method"], entry["method_params"])
        model = build_model(entry["model"], input_shape, entry["outputs"], network=network, **entry["model_params"])
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        reason = str(exc).splitlines()[0]
        if network is not None:
            raise SemimixError(
                f"{where}the {checkpoint} weights do not fit the network passed as model= ({reason}); pass the network the run trained"
            ) from None
        raise SemimixError(f"{where}the {checkpoint} weights do not fit the model the checkpoint describes ({reason}); the checkpoint is damaged") from None
    num_classes = int(entry["num_classes"])
    return TrainedModel(
        model,
        rebuild_preprocess(entry["preprocess"]),
        class_scores_of(method, num_classes),
        num_classes,
        list(entry["class_names"]),
        input_shape,
        checkpoint,
        device,
        run_dir=run_dir,
        input_dtype=str(entry.get("input_dtype", "float32")),
        batch_size=batch_size,
        loader_standardization=None
        if entry.get("loader_standardization") is None
        else (entry["loader_standardization"]["mean"].numpy(), entry["loader_standardization"]["std"].numpy()),
        resize_images=bool(entry.get("resize_images", False)),
    )
