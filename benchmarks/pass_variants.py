"""Which speed options pay on this machine: one training forward+backward of a model in eager fp32,
channels-last, bf16 autocast (alone and with channels-last) and torch.compile, at one batch size and input shape. The defaults of ``semimix`` (fp32,
eager, contiguous) follow from these figures; see benchmarks/RESULTS.md and README "Speed".

    python benchmarks/pass_variants.py --model wrn-28-2 --batch 80 --variants eager,channels-last,bf16,compile
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from semimix.bench.speed import timed
from semimix.models import build_model

VARIANTS = ("eager", "channels-last", "bf16", "bf16-channels-last", "compile")


def forward_backward(model: torch.nn.Module, x: torch.Tensor, amp: bool) -> None:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        loss = model(x).float().logsumexp(1).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)


def run(variant: str, model_name: str, shape: tuple[int, ...], batch: int, reps: int, device: torch.device) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model(model_name, shape, 10).to(device).train()
    x = torch.randn(batch, *shape, device=device)
    if variant.endswith("channels-last"):
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    if variant == "compile":
        model.compile()
    amp = variant.startswith("bf16")
    first = timed(lambda: forward_backward(model, x, amp), device)  # compiles, for "compile"
    timed(lambda: forward_backward(model, x, amp), device)
    times = [timed(lambda: forward_backward(model, x, amp), device) for _ in range(reps)]
    return {"first_s": first, "median_s": statistics.median(times), "min_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="wrn-28-2")
    parser.add_argument("--batch", type=int, default=80)
    parser.add_argument("--shape", default="3,32,32", help="input shape without the batch axis, e.g. 1,28,28")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        sys.exit(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    if args.batch < 2 or args.reps < 1:
        sys.exit("--batch must be >= 2 (BatchNorm needs two samples) and --reps >= 1")
    device = torch.device(args.device)
    shape = tuple(int(d) for d in args.shape.split(","))
    print(f"{args.model}, batch {args.batch}, {'x'.join(map(str, shape))}, {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    base = None
    for v in variants:
        r = run(v, args.model, shape, args.batch, args.reps, device)
        base = base or r["median_s"]
        print(
            f"{v:14s} forward+backward median {r['median_s']:.3f} s (min {r['min_s']:.3f}, first call {r['first_s']:.1f} s), "
            f"{r['median_s'] / base:.2f}x {variants[0]}",
            flush=True,
        )


if __name__ == "__main__":
    main()
