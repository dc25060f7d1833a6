"""fp32 against bf16 training-step time by model size: where does ``precision: auto``'s bf16 pay on a CPU?

One ``Trainer`` per precision for each model, on ``semimix.bench.speed.synthetic_bundle`` data, their
steps interleaved (so load from other processes hits both alike); the median of the timed steps, and
the forward multiply-accumulates per sample that ``semimix.train.precision`` decides by.

    python benchmarks/precision_by_model.py --method vat --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from semimix.bench.speed import synthetic_bundle, timed
from semimix.tables import markdown_table
from semimix.train.config import TrainConfig
from semimix.train.precision import forward_macs
from semimix.train.trainer import Trainer

# (model, input shape, model_params, labeled batch, unlabeled batch): small MLPs around the crossover, the
# estimator's MLP, the VAT papers' MNIST MLPs, and the convolutional models of the digits, MNIST and CIFAR presets.
CASES = [
    ("mlp", (64,), {"widths": [100, 50]}, 32, 128),
    ("cnn1d", (1, 40), {}, 32, 128),
    ("mlp", (784,), {"widths": [64]}, 32, 128),
    ("mlp", (256,), {"widths": [256, 256]}, 32, 128),
    ("mlp", (784,), {"widths": [256]}, 32, 128),
    ("mlp", (64,), {"widths": [512, 512]}, 32, 128),
    ("cnn-small", (1, 8, 8), {}, 32, 128),
    ("mlp", (784,), {"widths": [1200, 1200]}, 32, 128),
    ("mlp", (784,), {"widths": [1200, 600, 300, 150]}, 100, 250),
    ("wrn-28-2", (3, 32, 32), {"depth": 10, "width": 1}, 32, 128),
    ("cnn-small", (1, 28, 28), {}, 32, 128),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="vat")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per precision, after 2 untimed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for model, shape, params, labeled, unlabeled in CASES:
        torch.manual_seed(0)
        data = synthetic_bundle(shape)
        trainers = {
            precision: Trainer(
                TrainConfig(
                    method=args.method,
                    model=model,
                    model_params=params,
                    steps=10**9,
                    device="cpu",
                    progress=False,
                    out=os.devnull,
                    labeled_batch_size=labeled,
                    unlabeled_batch_size=unlabeled,
                    precision=precision,
                    threads=args.threads,
                ),
                data=data,
            )
            for precision in ("fp32", "bf16")
        }
        times: dict[str, list[float]] = {p: [] for p in trainers}
        for step in range(args.steps + 2):
            for precision, trainer in trainers.items():
                elapsed = timed(trainer.train_step, torch.device("cpu"))
                if step >= 2:
                    times[precision].append(elapsed)
        fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
        macs = forward_macs(trainers["fp32"].student, shape)
        rows.append(
            [
                f"{model} {params or ''} {'x'.join(map(str, shape))}, {labeled}+{unlabeled}",
                f"{macs:,}",
                f"{fp32 * 1e3:.1f}",
                f"{bf16 * 1e3:.1f}",
                f"{bf16 / fp32:.2f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    print(markdown_table(["model, input, batch", "MACs per sample", "fp32 ms", "bf16 ms", "bf16 / fp32"], rows))


if __name__ == "__main__":
    main()
