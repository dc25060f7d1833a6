"""The split dataset every method trains on: tensors ready to index, and how to preprocess a batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from semimix.data.streaming import FileImages, batches
from semimix.errors import SemimixError

# A split's inputs: a tensor, or image files decoded on indexing (a streamed folder; see DataBundle).
Inputs = torch.Tensor | FileImages


def in_memory(x: Inputs) -> torch.Tensor:
    """``x`` as the tensor it is, for code that needs all inputs in memory (the toy studies); streamed
    image files are refused."""
    if isinstance(x, FileImages):
        raise SemimixError(f"this needs the inputs in memory, not streamed image files ({x!r})")
    return x


def decoded(x: Inputs, batch_size: int = 512) -> torch.Tensor:
    """All rows of ``x`` as one tensor, decoding streamed image files (by the DataLoader's workers) into
    memory: for evaluations that need every input at once, such as attacks on a held-out split."""
    if not isinstance(x, FileImages):
        return x
    return torch.cat(list(batches(x, batch_size, torch.device("cpu")))) if len(x) else torch.empty(0, *x.image_shape, dtype=x.dtype)


def same_inputs(a: Inputs, b: Inputs) -> bool:
    """Whether two splits hold the same inputs: the same files (resized alike) or equal tensors."""
    if isinstance(a, FileImages) and isinstance(b, FileImages):
        return a.paths == b.paths and a.size == b.size
    return a.shape == b.shape and torch.equal(decoded(a), decoded(b))


@dataclass
class DataBundle:
    """Labeled, unlabeled, validation and test splits of one dataset.

    Inputs are tensors of shape (N, *input_shape): float32 already normalised (small datasets), or
    raw (e.g. uint8 images, 4× smaller in memory), or for image folders too big for memory
    ``streaming.FileImages`` that decode on indexing; raw inputs come with ``preprocess`` — a module applied to each
    float batch on the training device after augmentation (mean/std, GCN + ZCA). Labels are int64
    in 0..num_classes-1. ``split`` holds the indices that define the split (into the dataset's
    original arrays), saved with a run so it can be checked and repeated. ``y_unlabeled_true`` holds the hidden true labels of the unlabeled
    samples when they are known (benchmarks, SCAR statistics), else None. Validation or test
    splits may be empty (0 rows) for a user's data without them.
    """

    name: str
    x_labeled: Inputs
    y_labeled: torch.Tensor
    x_unlabeled: Inputs
    x_val: Inputs
    y_val: torch.Tensor
    x_test: Inputs
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    y_unlabeled_true: torch.Tensor | None = None
    preprocess: nn.Module | None = None
    split: dict[str, np.ndarray] = field(default_factory=dict)
    # (mean, std) the loader already standardised every split's inputs with (float data, data.normalize):
    # the data's files hold the values before it, so a model given file rows applies it first
    loader_standardization: tuple[np.ndarray, np.ndarray] | None = None
    # (low, high) the raw float inputs span before that standardisation, when the loader knows it (digits:
    # 0..1, sklearn's 0..16 divided by 16; a .npz with uint8 X: 0..255); uint8 inputs span 0..255 by their type
    pixel_range: tuple[float, float] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_labeled.shape[1:])

    def pixel_bounds(self) -> tuple[list[float], list[float]] | None:
        """Per channel, the lowest and highest value the stored images can take: what a view that works on
        pixel levels (RandAugment) maps to 0..255. None for inputs that are not images (C, H, W), or float
        images whose raw range is unknown (normalised values alone do not say where black and white lie)."""
        if len(self.input_shape) != 3:
            return None
        if self.x_labeled.dtype == torch.uint8:
            low, high = 0.0, 255.0
        elif self.pixel_range is not None:
            low, high = self.pixel_range
        else:
            return None
        bounds = np.array([[low], [high]]).repeat(self.input_shape[0], axis=1)
        if self.loader_standardization is not None:  # per channel, shape (1, C, 1, 1)
            mean, std = (stat.reshape(-1) for stat in self.loader_standardization)
            bounds = (bounds - mean) / std
        return bounds[0].tolist(), bounds[1].tolist()

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.x_labeled)} labeled, {len(self.x_unlabeled)} unlabeled, "
            f"{len(self.x_val)} validation, {len(self.x_test)} test, {self.num_classes} classes, "
            f"input shape {self.input_shape}"
        )
