"""Training throughput of several methods on one model, measured in one process so the ratios
between methods are fair: full trainer steps (batch production included) on random data.

    python benchmarks/throughput.py --model convlarge --methods supervised,ict,advmixup \
        --labeled-batch 32 --unlabeled-batch 128 --steps 10 --warmup 2

Prints per method the median step time, training samples/s (labeled + unlabeled samples per
second) and the ratio of step time to ICT's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from semimix.data.bundle import DataBundle
from semimix.train.config import TrainConfig
from semimix.train.trainer import Trainer


def random_bundle(shape: tuple[int, ...], classes: int, n: int) -> DataBundle:
    """Random inputs: speed does not depend on the pixels."""
    x = torch.randn(n, *shape)
    y = torch.arange(n) % classes
    empty_x, empty_y = x[:0], y[:0]
    return DataBundle("random", x, y, x, empty_x, empty_y, empty_x, empty_y, classes)


def time_method(method: str, args: argparse.Namespace, data: DataBundle) -> dict[str, float]:
    cfg = TrainConfig(method=method, model=args.model, steps=args.steps + args.warmup, device=args.device, progress=False,
                      labeled_batch_size=args.labeled_batch, unlabeled_batch_size=args.unlabeled_batch, out="/tmp/semimix-throughput")
    trainer = Trainer(cfg, data=data)
    times = []
    for i in range(args.warmup + args.steps):
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.train_step()
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    per_step = args.labeled_batch + (args.unlabeled_batch if trainer.unlabeled_stream else 0)
    median = statistics.median(times)
    return {"step_time_s": median, "step_time_spread_s": max(times) - min(times), "samples_per_s": per_step / median}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="convlarge")
    p.add_argument("--methods", default="supervised,ict,advmixup")
    p.add_argument("--shape", default="3,32,32")
    p.add_argument("--labeled-batch", type=int, default=32)
    p.add_argument("--unlabeled-batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    data = random_bundle(shape, 10, 1024)
    results = {m: time_method(m, args, data) for m in args.methods.split(",")}
    reference = results.get("ict", {}).get("step_time_s")
    print(f"model {args.model}, input {shape}, batch {args.labeled_batch}+{args.unlabeled_batch}, torch threads {torch.get_num_threads()}")
    for name, r in results.items():
        ratio = f"{r['step_time_s'] / reference:.2f}× ICT" if reference else ""
        print(f"{name:<22} {r['step_time_s'] * 1000:9.1f} ms/step (spread {r['step_time_spread_s'] * 1000:.1f})  {r['samples_per_s']:8.1f} samples/s  {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "device": args.device, "methods": results}, f, indent=2)


if __name__ == "__main__":
    main()
