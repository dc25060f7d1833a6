"""VAT on MNIST in plain PyTorch, sharing no code with semimix: a cross-check of ``semimix train`` on the
VAT code's MNIST setting (takerum/vat ``train_mnist_semisup.py``).

It trains on the labeled / unlabeled / validation indices of a semimix run (its ``split.npz``), so both
see the same 100 labels, and prints validation accuracy every 500 steps. Inputs are [0, 1] pixels (the
VAT code's scale; semimix's vat-scale is the same scale shifted by 0.5, which the first BN removes).

    python benchmarks/vat_mnist_plain.py runs/vat-mnist-slowdecay --data-dir ../shared/datasets --steps 3000

The model is 784-1200-1200-10 (Linear -> BN -> ReLU); VAT: d ~ N(0, I), one power iteration at
xi = 1e-6, r = eps * unit(grad), KL(p_clean || p_adv), BN statistics updated only by the labeled pass;
Adam 0.002 x0.9 every ``--decay-every`` steps; batch 100 labeled + 250 unlabeled.
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def unit(d: torch.Tensor) -> torch.Tensor:
    """The VAT code's normalisation: divide by the max |d|, then by the L2 norm, per sample."""
    d = d / (1e-20 + d.abs().amax(dim=1, keepdim=True))
    return d / (1e-6 + (d**2).sum(dim=1, keepdim=True)).sqrt()


def kl(target_logits: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    p = F.softmax(target_logits, dim=1)
    return (p * (F.log_softmax(target_logits, dim=1) - F.log_softmax(logits, dim=1))).sum(dim=1).mean()


def set_bn_updates(model: nn.Module, update: bool) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.track_running_stats = update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a semimix MNIST run whose split.npz gives the labeled/unlabeled/val indices")
    parser.add_argument("--data-dir", required=True, help="the folder holding mnist/train-*-ubyte.gz")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--epsilon", type=float, default=0.3)
    parser.add_argument("--decay-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    root = Path(args.data_dir) / "mnist"
    x = torch.tensor(read_idx(root / "train-images-idx3-ubyte.gz"), dtype=torch.float32).flatten(1) / 255.0
    y = torch.tensor(read_idx(root / "train-labels-idx1-ubyte.gz")).long()
    with np.load(Path(args.run_dir) / "split.npz") as split:
        xl, yl, xu = x[split["labeled"]], y[split["labeled"]], x[split["unlabeled"]]
        xv, yv = x[split["val"]], y[split["val"]]

    net = nn.Sequential(
        nn.Linear(784, 1200), nn.BatchNorm1d(1200, eps=1e-6), nn.ReLU(),
        nn.Linear(1200, 1200), nn.BatchNorm1d(1200, eps=1e-6), nn.ReLU(),
        nn.Linear(1200, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, args.decay_every, 0.9)
    order, pos, start = torch.randperm(len(xu)), 0, time.time()
    for step in range(1, args.steps + 1):
        if pos + 250 > len(xu):
            order, pos = torch.randperm(len(xu)), 0
        u, pos = xu[order[pos : pos + 250]], pos + 250
        shuffled = torch.randperm(len(xl))
        supervised = F.cross_entropy(net(xl[shuffled]), yl[shuffled])
        set_bn_updates(net, False)
        with torch.no_grad():
            clean = net(u)
        d = (1e-6 * unit(torch.randn_like(u))).requires_grad_()
        (grad,) = torch.autograd.grad(kl(clean, net(u + d)), d)
        vat = kl(clean, net(u + args.epsilon * unit(grad)))
        set_bn_updates(net, True)
        opt.zero_grad()
        (supervised + vat).backward()
        opt.step()
        sched.step()
        if step % 500 == 0:
            net.eval()
            with torch.no_grad():
                acc = (net(xv).argmax(dim=1) == yv).float().mean().item()
            net.train()
            print(f"step {step}  supervised {supervised.item():.4f}  vat {vat.item():.4f}  val_accuracy {acc:.4f}  {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
