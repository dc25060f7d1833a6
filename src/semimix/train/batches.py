"""Each step's batch: index streams over the labeled and unlabeled rows, and the views a method
draws of them. In-memory rows are indexed on the training device; image files (a streamed folder)
are decoded ahead by DataLoader workers. The streams' state is what a checkpoint saves."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from semimix.data.augment import Augmenter, FeatureStrongAugmenter, StrongAugmenter
from semimix.data.bundle import DataBundle, in_memory
from semimix.data.streaming import FileImages, decode_batches
from semimix.errors import SemimixError
from semimix.methods import Batch, Method
from semimix.train.config import AugmentConfig, TrainConfig
from semimix.train.distributed import Dist
from semimix.train.streams import IndexStream

View = Callable[[torch.Tensor], torch.Tensor]
INPUTS = {"labeled": "x_labeled", "second_labeled": "x_labeled", "unlabeled": "x_unlabeled"}  # each stream's input rows
# Stream k of a run with seed s draws its order with seed s·STREAM_SEED_STRIDE + k: a run's streams
# differ from each other, and no two seeds share a stream.
STREAM_SEED_STRIDE = 1000
STREAM_SEEDS = {"labeled": 1, "unlabeled": 2, "second_labeled": 3}


class BatchSource:
    """The batches of one run, in order: ``next()`` draws the next step's; ``state_dict`` says
    where every stream stands (the next batch to train on, even when batches were decoded ahead)."""

    def __init__(self, data: DataBundle, cfg: TrainConfig, method: Method, dist: Dist, device: torch.device) -> None:
        self.data, self.dist, self.device = data, dist, device
        sizes = {"labeled": cfg.labeled_batch_size, "second_labeled": cfg.labeled_batch_size, "unlabeled": cfg.unlabeled_batch_size}
        wanted = {
            "labeled": True,
            "second_labeled": method.needs_second_labeled_batch,
            "unlabeled": method.unlabeled != "unused" and len(data.x_unlabeled) > 0,
        }
        self.streams = {
            name: IndexStream(len(getattr(data, INPUTS[name])), sizes[name], cfg.seed * STREAM_SEED_STRIDE + STREAM_SEEDS[name])
            for name in INPUTS
            if wanted[name]
        }
        # In-memory inputs live on the device and batches are indexed there.
        self.tensors = {
            name: getattr(data, name).to(device) for name in ("x_labeled", "y_labeled", "x_unlabeled") if not isinstance(getattr(data, name), FileImages)
        }
        self.streamed = any(isinstance(getattr(data, INPUTS[name]), FileImages) for name in self.streams)
        self._decoded: Iterator[dict[str, torch.Tensor]] | None = None

    @property
    def has_unlabeled(self) -> bool:
        return "unlabeled" in self.streams

    def next(self) -> Batch:
        if self.streamed and self._decoded is None:  # (re)started where the streams stand: after a resume, where the run stopped
            sources = {name: getattr(self.data, INPUTS[name]) for name in self.streams}
            self._decoded = decode_batches(sources, drawn_ahead(self.streams, self.dist.shard), self.device)
        idx = {name: self._to_device(self.dist.shard(stream.next())) for name, stream in self.streams.items()}
        if self._decoded is not None:
            x = next(self._decoded)
        else:
            x = {name: self.tensors[INPUTS[name]][i] for name, i in idx.items()}
        y = self.tensors["y_labeled"]
        batch = Batch(x["labeled"], y[idx["labeled"]])
        if "second_labeled" in idx:
            batch.x_l2, batch.y_l2 = x["second_labeled"], y[idx["second_labeled"]]
        if "unlabeled" in idx:
            batch.x_u, batch.idx_u = x["unlabeled"], idx["unlabeled"]
        return batch

    def stop_decoding(self) -> None:
        """Stop the decoding workers; the next batch restarts them from where the streams stand."""
        self._decoded = None

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint entries ``<stream>_stream`` (None for a stream this run does not draw)."""
        return {f"{name}_stream": self.streams[name].state_dict() if name in self.streams else None for name in INPUTS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, stream in self.streams.items():
            stream.load_state_dict(state[f"{name}_stream"])
        self.stop_decoding()  # batches decoded ahead belong to the old position

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """A host tensor (the step's indices) on the training device: on CUDA copied from pinned
        memory without blocking the host (stream-ordered, so the step's kernels still see it); as is elsewhere."""
        if self.device.type == "cuda" and t.device.type == "cpu":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t.to(self.device)


def drawn_ahead(streams: dict[str, IndexStream], shard: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[dict[str, np.ndarray]]:
    """Each step's batch indices {stream name: rows} (this rank's ``shard``), drawn from copies of ``streams`` taken now.

    A DataLoader draws these ahead of training to decode the next batches; the run's own
    streams draw the same indices only as each batch is trained on, so they always stand at the
    next batch to train on — what a checkpoint must save — and the sample order is the in-memory one.
    """
    copies = {}
    for name, stream in streams.items():
        copies[name] = IndexStream(stream.size, stream.batch_size, seed=0)
        copies[name].load_state_dict(stream.state_dict())
    return ({name: shard(copy.next()).numpy() for name, copy in copies.items()} for _ in itertools.count())


def training_views(cfg: AugmentConfig, data: DataBundle, device: torch.device, strong: bool) -> tuple[View, View]:
    """The weak view every method trains on and (``strong``) FixMatch's strong view, else the weak one again."""
    augment = Augmenter(cfg.flip, cfg.translate, cfg.noise, data.input_shape, cfg.pad_mode)
    preprocess = data.preprocess.to(device) if data.preprocess is not None else None
    view = compose_view(augment, preprocess)
    return view, compose_view(strong_augment(augment, cfg, data, device), preprocess) if strong else view


def compose_view(augment: View, preprocess: torch.nn.Module | None) -> View:
    """A stochastic training view of a raw batch: to float, augment, then preprocess (the order of
    ICT's pipeline: flip/translate on images, then normalisation and ZCA). Always float32, also when
    a method calls it under bf16 autocast: ZCA is a matmul that autocast would round to bf16, and the
    passes that run in float32 (VAT's power iteration, ξ = 1e-6) need float32 inputs."""

    def view(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            x = augment(x.float())
            return preprocess(x) if preprocess is not None else x

    return view


def strong_augment(weak: Augmenter, cfg: AugmentConfig, data: DataBundle, device: torch.device) -> View:
    """FixMatch's strong view strong(weak(x)). On images RandAugment + Cutout, whose ops work on PIL's
    0..255 levels, so the images' black and white must be known (``DataBundle.pixel_bounds``); on
    feature vectors noise and dropout scaled to the training rows (``FeatureStrongAugmenter``)."""
    strong: View
    if len(data.input_shape) != 3:
        x_train = torch.cat([in_memory(data.x_labeled), in_memory(data.x_unlabeled)])
        strong = FeatureStrongAugmenter.from_config(cfg, x_train, device)
    elif (bounds := data.pixel_bounds()) is not None:
        strong = StrongAugmenter.from_config(cfg, data.input_shape, bounds)
    else:
        raise SemimixError(
            f"the strong view (RandAugment + Cutout) needs images whose raw pixel range is known, but {data.name} holds float images "
            "without one; give them as uint8 0..255 (an image folder, or X of dtype uint8 in the .npz)"
        )
    return lambda x: strong(weak(x))
