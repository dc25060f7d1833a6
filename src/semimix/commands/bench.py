"""``semimix bench speed``: step time of several methods on one model and synthetic data, with each
method's pass count and the time that count predicts (see ``semimix.bench.speed``)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "bench"


def _methods(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="benchmarks: 'bench speed' times training steps of several methods")
    kinds = p.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    s = kinds.add_parser(
        "speed",
        help="median step time, samples/s, peak memory and measured/predicted-by-pass-count per method",
        description="Times full training steps (batch production included) of each method on synthetic data in one "
        "process, the methods interleaved over rounds, and compares each with the time its forward/backward pass "
        "count predicts from single-pass costs measured on the same model.",
    )
    s.add_argument("--methods", type=_methods, default=["supervised", "ict", "advmixup"], help="comma-separated method names")
    s.add_argument("--model", default="convlarge", help="model name (see 'semimix models')")
    s.add_argument("--image-size", type=int, default=32, help="side of the synthetic 3-channel images (default 32)")
    s.add_argument("--labeled-batch", type=int, default=32)
    s.add_argument("--unlabeled-batch", type=int, default=128)
    s.add_argument("--steps", type=int, default=10, help="timed steps per method (default 10)")
    s.add_argument("--warmup", type=int, default=2, help="untimed steps per method first (default 2)")
    s.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    s.add_argument("--compile", action="store_true", help="torch.compile the models")
    s.add_argument("--amp", action="store_true", help="bf16 autocast (CPU and CUDA)")
    s.add_argument("--json", metavar="FILE", help="also write the results to this JSON file")
    return p


def run(args: argparse.Namespace) -> int:
    from semimix.bench.speed import SpeedOptions, format_table, measure
    from semimix.train.files import write_json

    opts = SpeedOptions(args.methods, args.model, args.image_size, args.labeled_batch, args.unlabeled_batch,
                        args.steps, args.warmup, args.device, args.compile, args.amp)
    result = measure(opts)
    print(format_table(result))
    if args.json:
        write_json(Path(args.json), result)
        print(f"wrote {args.json}")
    return 0
