"""Peak memory of loading a dataset as the trainer holds it, against the raw uint8 size of its
images (CIFAR-10: 60000×3×32×32 = 184 MB; the target is at most 1.5× that).

    python benchmarks/load_memory.py --dataset cifar10 --data-dir ../shared/datasets --labels 4000

Two figures: the peak of the array allocations made while loading (``tracemalloc``, which numpy
reports to; torch tensors and LAPACK workspaces are not seen), and the peak resident memory from the kernel (``ru_maxrss``)
minus the interpreter's with torch imported, which also counts modules imported lazily while
loading and memory the C allocator keeps after a free. ZCA
whitening (CIFAR-10's default) adds its fit's D×D float64 matrices (D = 3072: 75 MB each), which
do not grow with the dataset; ``--preprocess standardize`` shows the loading alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import tracemalloc

import numpy as np
import torch  # imported before the baseline so its memory is not counted

from semimix.data import load_dataset
from semimix.data.config import DataConfig


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--labels", type=int, default=4000)
    parser.add_argument("--preprocess", default=None, help="e.g. standardize, zca (default: the dataset's own)")
    args = parser.parse_args()
    baseline = _peak_mb()
    tracemalloc.start()
    cfg = DataConfig(dataset=args.dataset, data_dir=args.data_dir, labels=args.labels, preprocess=args.preprocess)
    bundle = load_dataset(cfg, seed=0)
    added = _peak_mb() - baseline
    allocated = tracemalloc.get_traced_memory()[1] / 2**20
    arrays = [a for a in vars(bundle).values() if isinstance(a, (np.ndarray, torch.Tensor))]
    raw = sum(a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size() for a in arrays if a.ndim >= 3) / 2**20
    result = {
        "dataset": args.dataset,
        "preprocess": args.preprocess or "default",
        "image_arrays_mb": round(raw, 1),
        "peak_allocated_mb": round(allocated, 1),
        "allocated_ratio": round(allocated / raw, 2),
        "peak_rss_added_mb": round(added, 1),
        "rss_ratio": round(added / raw, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
