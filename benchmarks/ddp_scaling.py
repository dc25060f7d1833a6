"""Data-parallel scaling on one machine: the same run (global batch, steps, seed) in 1 and in N
processes (`semimix train --nproc N`, gloo on CPU, NCCL on GPUs), training steps/s from each run's
summary (training wall time only: data loading, start-up and the final evaluation excluded).

    python benchmarks/ddp_scaling.py --nproc 1,2 --method ict --steps 200

Each process gets one CPU thread (`threads=1`), so on CPU the comparison is N cores against one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(nproc: int, args: argparse.Namespace, out: Path) -> float:
    """Training wall seconds of one run with ``nproc`` processes."""
    command = [
        sys.executable,
        "-m",
        "semimix",
        "train",
        "--config",
        args.config,
        "--method",
        args.method,
        "--steps",
        str(args.steps),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "threads=1",
        "--set",
        f"eval_every={args.steps}",
        "--set",
        f"log_every={args.steps}",
        *args.set,
    ]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())["wall_time_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", default="1,2", help="comma-separated process counts (default 1,2)")
    p.add_argument("--config", default="digits", help="preset or config YAML (default digits: cnn-small, batch 32+128)")
    p.add_argument("--method", default="ict")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    args = p.parse_args()
    counts = [int(n) for n in args.nproc.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        walls = {n: run(n, args, Path(tmp) / f"nproc{n}") for n in counts}
    base = walls[counts[0]]
    print(f"{args.method} on {args.config}, {args.steps} steps, global batch from the config, one thread per process")
    print("| processes | training s | steps/s | speed-up |")
    print("|---:|---:|---:|---:|")
    for n, wall in walls.items():
        print(f"| {n} | {wall:.1f} | {args.steps / wall:.2f} | {base / wall:.2f}× |")


if __name__ == "__main__":
    main()
