"""Training-step speed of several methods on one model, in one process so ratios between methods
are fair: full trainer steps (batch indexing and augmentation included) on synthetic in-memory
data, the methods interleaved round by round so that load from other processes hits all alike.

Each method's declared pass count (``Method.passes``) predicts its step time from single-pass costs
measured once on the same model: forward without grad, forward with grad, and the backward to the
parameters or to the input (each the difference of a forward+backward and a forward). Measured /
predicted near 1 means the step runs no pass it does not need and waits on little else.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from semimix.data.bundle import DataBundle
from semimix.data.preprocess import Standardize
from semimix.errors import SemimixError
from semimix.methods import build_method, canonical_method_name
from semimix.methods.base import BACKWARD, FORWARD, FP32_FORWARD, FP32_NO_GRAD, INPUT_BACKWARD, NO_GRAD, Pass
from semimix.models import resolve_model_name
from semimix.tables import markdown_table
from semimix.train.config import AugmentConfig, TrainConfig
from semimix.train.hardware import resolve_device
from semimix.train.trainer import Trainer

REFERENCES = ("supervised", "ict")
CLASSES = 10
SAMPLES = 1024  # rows of the synthetic set: enough for any batch, small enough to live on the device


@dataclass
class SpeedOptions:
    methods: list[str]
    model: str = "convlarge"
    image_size: int = 32
    labeled_batch: int = 32
    unlabeled_batch: int = 128
    steps: int = 10
    warmup: int = 2
    device: str = "cpu"
    compile: bool = False
    precision: str = "auto"  # as in training: bf16 where the device computes it natively (semimix.train.precision)
    memory_format: str = "auto"

    def validate(self) -> None:
        """Bad input as one SemimixError before anything is built."""
        self.methods = [canonical_method_name(m) for m in self.methods]
        if not self.methods:
            raise SemimixError("--methods needs at least one method name (see 'semimix methods')")
        resolve_model_name(self.model, (3, self.image_size, self.image_size))
        for key in ("image_size", "labeled_batch", "unlabeled_batch", "steps"):
            if getattr(self, key) <= 0:
                raise SemimixError(f"--{key.replace('_', '-')} must be a positive integer, got {getattr(self, key)}")
        if self.warmup < 0:
            raise SemimixError(f"--warmup must be >= 0, got {self.warmup}")
        resolve_device(self.device)


def synthetic_bundle(shape: tuple[int, ...], classes: int = CLASSES, n: int = SAMPLES) -> DataBundle:
    """Random inputs, every row both labeled and unlabeled: speed does not depend on the pixels. Images are
    raw uint8 with per-channel standardisation on the device, as the image benchmarks are stored, so that
    the strong view (FixMatch) has its 0..255 levels and the timing includes the preprocessing."""
    y = torch.arange(n) % classes
    if len(shape) == 3:
        x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8)
        preprocess = Standardize([127.5] * shape[0], [73.9] * shape[0])
    else:
        x, preprocess = torch.randn(n, *shape), None
    empty_x, empty_y = x[:0], y[:0]
    return DataBundle("synthetic", x, y, x, empty_x, empty_y, empty_x, empty_y, classes, preprocess=preprocess)


def build_trainer(method: str, opts: SpeedOptions, data: DataBundle) -> Trainer:
    """A real trainer with CIFAR-10's weak augmentation (flip, translate 2) for images, as ICT trains."""
    image = len(data.input_shape) == 3
    cfg = TrainConfig(
        method=method,
        model=opts.model,
        steps=10**9,
        device=opts.device,
        progress=False,
        out=os.devnull,
        labeled_batch_size=opts.labeled_batch,
        unlabeled_batch_size=opts.unlabeled_batch,
        augment=AugmentConfig(flip=image, translate=2 if image else 0),
        precision=opts.precision,
        memory_format=opts.memory_format,
        compile=opts.compile,
    )
    return Trainer(cfg, data=data)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of ``fn`` with the device's queue drained before and after."""
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def peak_step_memory_mb(trainer: Trainer) -> float:
    """Peak memory of one step above what was held before it. CUDA: ``max_memory_allocated``;
    CPU: resident set size sampled every millisecond by a thread (``/proc/self/statm``), since
    PyTorch keeps no CPU allocator statistics and tracemalloc does not see its tensors."""
    if trainer.device.type == "cuda":
        _sync(trainer.device)
        torch.cuda.reset_peak_memory_stats(trainer.device)
        before = torch.cuda.memory_allocated(trainer.device)
        trainer.train_step()
        _sync(trainer.device)
        return (torch.cuda.max_memory_allocated(trainer.device) - before) / 2**20
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    before, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    trainer.train_step()
    done.set()
    thread.join()
    return max(0, max(peak[0], rss()) - before) / 2**20


def pass_costs(model: torch.nn.Module, input_shape: tuple[int, ...], device: torch.device, amp: bool, sizes: set[int], rounds: int) -> dict[Pass, float]:
    """Median seconds of each pass kind at each batch size on ``model`` (train mode, bf16 autocast
    when ``amp``, except the float32 kinds); the backward costs are (forward + backward) − forward.
    Without ``amp`` the float32 kinds are the plain ones and are not timed twice. Any module that
    maps a batch to logits works, so other libraries' networks can be costed the same way."""
    model.train()
    samples: dict[Pass, list[float]] = {}

    def params_backward(x: torch.Tensor) -> None:
        model(x).float().sum().backward()
        model.zero_grad(set_to_none=True)

    def input_backward(x: torch.Tensor) -> None:
        x = x.requires_grad_(True)
        torch.autograd.grad(model(x).float().sum(), x)

    def no_grad(x: torch.Tensor) -> None:
        with torch.no_grad():
            model(x)

    def in_fp32(fn: Callable[[torch.Tensor], object]) -> Callable[[torch.Tensor], object]:
        def run(x: torch.Tensor) -> object:
            with torch.autocast(device.type, enabled=False):
                return fn(x)

        return run

    kinds: dict[str, Callable[[torch.Tensor], object]] = {NO_GRAD: no_grad, FORWARD: model, BACKWARD: params_backward}
    fp32_kinds = {FP32_FORWARD: in_fp32(model), INPUT_BACKWARD: in_fp32(input_backward), FP32_NO_GRAD: in_fp32(no_grad)}
    kinds.update(fp32_kinds if amp else {INPUT_BACKWARD: input_backward})
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for _ in range(rounds + 1):  # the first round warms up
            for n in sorted(sizes):
                for kind, fn in kinds.items():
                    x = torch.randn(n, *input_shape, device=device)
                    samples.setdefault((kind, n), []).append(timed(functools.partial(fn, x), device))
    costs = {key: statistics.median(times[1:]) for key, times in samples.items()}
    for n in sizes:
        costs.setdefault((FP32_FORWARD, n), costs[(FORWARD, n)])
        costs.setdefault((FP32_NO_GRAD, n), costs[(NO_GRAD, n)])
        costs[(INPUT_BACKWARD, n)] = max(0.0, costs[(INPUT_BACKWARD, n)] - costs[(FP32_FORWARD, n)])
        costs[(BACKWARD, n)] = max(0.0, costs[(BACKWARD, n)] - costs[(FORWARD, n)])
    return costs


def predicted_time(passes: list[Pass], costs: dict[Pass, float]) -> float:
    return sum(costs[p] for p in passes)


def measure(opts: SpeedOptions) -> dict[str, Any]:
    """The benchmark: per method step time (median, spread = max − min), samples/s, predicted
    step time from its pass count, peak step memory, and ratios to supervised and ICT."""
    opts.validate()
    shape = (3, opts.image_size, opts.image_size)
    data = synthetic_bundle(shape)
    trainers = {m: build_trainer(m, opts, data) for m in opts.methods}
    device = next(iter(trainers.values())).device
    for trainer in trainers.values():
        for _ in range(opts.warmup):
            trainer.train_step()
    memory = {m: peak_step_memory_mb(t) for m, t in trainers.items()}
    times: dict[str, list[float]] = {m: [] for m in trainers}
    order = list(trainers)
    for r in range(opts.steps):  # interleaved, the order rotated each round
        for m in order[r % len(order) :] + order[: r % len(order)]:
            times[m].append(timed(trainers[m].train_step, device))
    declared = {m: build_method(m, t.cfg.params_for_method()).passes(opts.labeled_batch, opts.unlabeled_batch) for m, t in trainers.items()}
    sizes = {n for passes in declared.values() if passes for _, n in passes}
    first = next(iter(trainers.values()))
    rounds = max(3, opts.steps // 2)
    costs = pass_costs(first.student, first.data.input_shape, device, first.fast_path.bf16, sizes, rounds) if sizes else {}
    results: dict[str, dict[str, Any]] = {}
    for m, trainer in trainers.items():
        median = statistics.median(times[m])
        per_step = opts.labeled_batch + (opts.unlabeled_batch if trainer.batches.has_unlabeled else 0)
        passes = declared[m]
        predicted = predicted_time(passes, costs) if passes else None
        results[m] = {
            "step_time_s": median,
            "step_time_spread_s": max(times[m]) - min(times[m]),
            "samples_per_s": per_step / median,
            "predicted_step_time_s": predicted,
            "measured_over_predicted": median / predicted if predicted else None,
            "peak_memory_mb": memory[m],
            "passes": [list(p) for p in passes] if passes else None,
            "step_times_s": times[m],
        }
    for result in results.values():
        for ref in REFERENCES:
            result[f"ratio_to_{ref}"] = result["step_time_s"] / results[ref]["step_time_s"] if ref in results else None
    return {
        "device": str(device),
        "model": opts.model,
        "input_shape": list(shape),
        "labeled_batch": opts.labeled_batch,
        "unlabeled_batch": opts.unlabeled_batch,
        "steps": opts.steps,
        "warmup": opts.warmup,
        **first.fast_path.describe(),
        "compile": opts.compile,
        "torch_threads": torch.get_num_threads(),
        "memory": "CUDA max_memory_allocated above the step's start" if device.type == "cuda" else "peak RSS growth during one step (sampled every 1 ms)",
        "pass_costs_s": {f"{kind}@{n}": c for (kind, n), c in sorted(costs.items())},
        "methods": results,
    }


def pass_summary(passes: list[list[Any]] | None) -> str:
    """Passes as e.g. 'F 32+128, B 32+128, N 128' (F forward, N no-grad, B backward; P a float32
    forward and I its backward to the input: VAT's power iteration; Q a float32 no-grad forward: its target)."""
    if not passes:
        return "not declared"
    letters = {FORWARD: "F", NO_GRAD: "N", BACKWARD: "B", FP32_FORWARD: "P", INPUT_BACKWARD: "I", FP32_NO_GRAD: "Q"}
    by_kind: dict[str, list[str]] = {}
    for kind, n in passes:
        by_kind.setdefault(letters[kind], []).append(str(n))
    return ", ".join(f"{k} {'+'.join(v)}" for k, v in by_kind.items())


def format_table(result: dict[str, Any]) -> str:
    """The result as a markdown table, one row per method."""

    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    head = ["method", "step ms (median)", "spread ms", "samples/s", "× supervised", "× ict", "predicted ms", "measured/predicted", "peak MB", "passes"]
    rows = [
        [
            m,
            num(r["step_time_s"] * 1e3, ".1f"),
            num(r["step_time_spread_s"] * 1e3, ".1f"),
            num(r["samples_per_s"], ".1f"),
            num(r["ratio_to_supervised"], ".2f"),
            num(r["ratio_to_ict"], ".2f"),
            num(r["predicted_step_time_s"] and r["predicted_step_time_s"] * 1e3, ".1f"),
            num(r["measured_over_predicted"], ".2f"),
            num(r["peak_memory_mb"], ".0f"),
            pass_summary(r["passes"]),
        ]
        for m, r in result["methods"].items()
    ]
    title = (
        f"{result['model']} on {result['device']}, input {'×'.join(map(str, result['input_shape']))}, batch "
        f"{result['labeled_batch']}+{result['unlabeled_batch']}, {result['steps']} timed steps after {result['warmup']} warm-up, "
        f"precision {result['precision']}, {result['memory_format']}, compile={result['compile']}, torch threads {result['torch_threads']}"
    )
    legend = (
        "passes: F forward, B its backward to the parameters, N forward without grad, P float32 forward, I its backward to the input,"
        " Q float32 forward without grad"
    )
    return title + "\n" + markdown_table(head, rows) + "\n" + legend
