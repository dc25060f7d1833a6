"""Batch production speed: how many training samples per second the on-device data pipeline makes,
to set beside a model's training samples/s (``benchmarks/throughput.py``).

One step is what the trainer does before the forward pass: draw a labeled and an unlabeled batch of
indices (``IndexStream``), index a uint8 (N, 3, 32, 32) image tensor held on the device, cast to
float, weak augmentation (flip + translate), per-channel standardisation. ``weak+strong`` also makes
FixMatch's strong view of the unlabeled batch: RandAugment + Cutout on a second weak view.

    python benchmarks/data_pipeline.py --threads 2,1
    python benchmarks/data_pipeline.py --threads 2 --model convlarge --method ict   # and the model's rate
    python benchmarks/data_pipeline.py --data-dir /work/shared/datasets            # real CIFAR-10

Samples/s counts labeled + unlabeled samples per step, as ``throughput.py`` does, so the share of a
training step spent making its batch is ``train samples/s ÷ pipeline samples/s``.
Without ``--data-dir`` the images are random uint8 of CIFAR-10's shape (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from semimix.data.augment import Augmenter, StrongAugmenter
from semimix.train.streams import IndexStream


def load_images(data_dir: str | None, n: int) -> tuple[torch.Tensor, str]:
    """CIFAR-10's unlabeled pool when ``data_dir`` is given, else ``n`` random uint8 images."""
    if data_dir is None:
        return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)), "random uint8"
    from semimix.data import DataConfig, load_dataset

    bundle = load_dataset(DataConfig(dataset="cifar10", data_dir=data_dir, preprocess="none"), seed=0)
    return bundle.x_unlabeled, "cifar10 (unlabeled pool)"


def make_step(images: torch.Tensor, args: argparse.Namespace, strong: bool) -> Callable[[], None]:
    """One batch production step on ``images``' device."""
    floats = images[: min(len(images), 10000)].float()
    mean = floats.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = floats.std(dim=(0, 2, 3)).view(1, 3, 1, 1)
    weak = Augmenter(flip=True, translate=args.translate, input_shape=tuple(images.shape[1:]), pad_mode=args.pad_mode)
    strong_view = StrongAugmenter(input_shape=tuple(images.shape[1:]))
    labeled = IndexStream(len(images), args.labeled_batch, 1)
    unlabeled = IndexStream(len(images), args.unlabeled_batch, 2)

    def step() -> None:
        x_l = images[labeled.next().to(images.device)].float()
        x_u = images[unlabeled.next().to(images.device)].float()
        views = [weak(x_l), weak(x_u)]
        if strong:
            views.append(strong_view(weak(x_u)))
        for view in views:
            (view - mean) / std

    return step


def median_step_time(step: Callable[[], None], device: torch.device, steps: int, warmup: int) -> float:
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_rate(args: argparse.Namespace, device: str) -> float:
    """The model's full trainer-step samples/s from ``throughput.py`` (same batch sizes)."""
    from throughput import random_bundle, time_method  # benchmarks/ is on sys.path when run as a script

    timing_args = argparse.Namespace(
        model=args.model, steps=args.model_steps, warmup=1, device=device, labeled_batch=args.labeled_batch, unlabeled_batch=args.unlabeled_batch
    )
    return time_method(args.method, timing_args, random_bundle((3, 32, 32), 10, 1024))["samples_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="2,1", help="comma-separated CPU thread counts to time")
    p.add_argument("--devices", default="auto", help="comma-separated: cpu, cuda; auto = cpu, and cuda when present")
    p.add_argument("--data-dir", help="load real CIFAR-10 from here instead of random images")
    p.add_argument("--images", type=int, default=50000, help="random images to hold (CIFAR-10's training set size)")
    p.add_argument("--labeled-batch", type=int, default=32)
    p.add_argument("--unlabeled-batch", type=int, default=128)
    p.add_argument("--translate", type=int, default=2)
    p.add_argument("--pad-mode", default="zero", choices=["zero", "reflect"])
    p.add_argument("--steps", type=int, default=30, help="timed steps per round (their median is the round's)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps before each round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--model", help="also time this model's training step with throughput.py (e.g. convlarge)")
    p.add_argument("--method", default="ict", help="the method whose training step --model times")
    p.add_argument("--model-steps", type=int, default=3)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()

    devices = ["cpu", "cuda"] if args.devices == "auto" and torch.cuda.is_available() else ["cpu"] if args.devices == "auto" else args.devices.split(",")
    images, source = load_images(args.data_dir, args.images)
    per_step = args.labeled_batch + args.unlabeled_batch
    print(
        f"{source} {tuple(images.shape)}, batch {args.labeled_batch}+{args.unlabeled_batch}, "
        f"weak: flip + translate {args.translate} ({args.pad_mode}), strong: RandAugment(2 ops) + Cutout 16 on a weak view; "
        f"median of {args.rounds} interleaved rounds of {args.steps} steps (min-max in brackets)"
    )
    configs = []
    for device in devices:
        on_device = images.to(device)
        for threads in [int(t) for t in args.threads.split(",")] if device == "cpu" else [torch.get_num_threads()]:
            for view, strong in (("weak", False), ("weak+strong", True)):
                configs.append({"device": device, "threads": threads, "view": view, "step": make_step(on_device, args, strong), "rates": []})
    for _ in range(args.rounds):  # interleaved, so a burst of load from other processes hits every setting alike
        for config in configs:
            torch.set_num_threads(config["threads"])
            config["rates"].append(per_step / median_step_time(config["step"], torch.device(config["device"]), args.steps, args.warmup))
    results = []
    for config in configs:
        rates = config.pop("rates")
        del config["step"]
        results.append({**config, "samples_per_s": statistics.median(rates), "min": min(rates), "max": max(rates)})
        print(
            f"{config['device']:<5} threads {config['threads']}  {config['view']:<12} {statistics.median(rates):9.0f} samples/s  "
            f"[{min(rates):.0f}-{max(rates):.0f}]"
        )
    if args.model:
        for device in devices:
            for threads in [int(t) for t in args.threads.split(",")] if device == "cpu" else [torch.get_num_threads()]:
                torch.set_num_threads(threads)
                rate = train_rate(args, device)
                results.append({"device": device, "threads": threads, "view": f"train {args.model}/{args.method}", "samples_per_s": rate})
                print(f"{device:<5} threads {threads}  training {args.model} with {args.method}: {rate:9.1f} samples/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"source": source, "args": vars(args), "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
