"""Step times of the same method, model and batch in semimix and in its peers, each driven through
its own library's training step: semimix, USB (``semilearn``) and LAMDA-SSL.

Workload (issue 28): WRN-28-2, 10 classes, 3x32x32 synthetic images, 16 labeled + 32 unlabeled per
step, on the CPU, each library at its default settings. Each run times ``--steps`` steps per method
after ``--warmup`` untimed ones, the methods interleaved round by round (the order rotated) so that
load from other processes hits all alike, and writes the median, spread and every sample to
``--json``. The script runs in whatever environment starts it and imports only the library asked
for, so the peers live in a venv of their own; ``--compare`` (no torch import) lines up the files.

What a timed step is, per library:

- semimix: ``Trainer.train_step()`` of a trainer built by ``semimix.bench.speed`` (as ``semimix
  bench speed`` times it): batch indexing, augmentation on the tensors (CIFAR weak; FixMatch's strong
  view too), the passes, optimiser, EMA. ``--precision`` as in training: ``auto`` (the default) is bf16
  autocast + channels-last where the CPU computes bf16 natively (AVX512-BF16 / AMX), else fp32;
  ``fp32`` is exact fp32. Run both: auto is what semimix does by default, fp32 what the peers do.
- USB (semilearn 0.3.2): the body of ``AlgorithmBase.train()``'s loop: ``call_hook("before_train_step")``,
  ``train_step(**process_batch(**data_lb, **data_ulb))``, ``call_hook("after_train_step")`` (its
  ``ParamUpdateHook`` runs backward, SGD and the LR scheduler; ``EMAHook`` the EMA update), ``it += 1``.
  The algorithm object comes from USB's public API, ``get_algorithm(get_config({...}),
  get_net_builder("wrn_28_2", False), None, None)``, with ``get_config``'s defaults (fp32: ``amp``
  False; ``use_cat`` True; SGD 0.03 nesterov, EMA 0.999) and the algorithm's own argument defaults;
  only batch size (16, ``uratio`` 2), 10 classes and the intervals (below) are set. The batch dicts
  are what USB's ``BasicDataset.__getitem__`` + default collate give: ``{idx_lb, x_lb, y_lb}`` and
  ``{idx_ulb, x_ulb_w, x_ulb_s}`` (VAT: ``{idx_ulb, x_ulb_w}``), normalised float images. USB has no
  ICT (its registry: fixmatch, mixmatch, meanteacher, vat, pimodel, ... and no ict).
  USB is written for GPUs, so on a CPU three things differ from its own loop, none of them work of
  the step: ``Tensor.cuda`` returns the tensor itself when no GPU is visible (``process_batch`` and
  VAT's perturbation call ``.cuda(self.gpu)``); ``TimerHook`` is left out (CUDA events, for its
  logged times only); ``num_eval_iter`` / ``num_log_iter`` are 0, so evaluation, checkpoints and log
  lines never fire inside the timed steps. The data loading (USB's PIL transforms in DataLoader
  workers) is not timed.
- LAMDA-SSL 1.0.2: the body of ``DeepModelMixin.fit_batch_loop``: ``start_fit_batch()``, ``to_device``,
  ``train(lb_X=, lb_y=, ulb_X=, lb_idx=, ulb_idx=)``, ``end_fit_batch(result)`` (``get_loss`` +
  ``optimize``: backward, SGD, scheduler, EMA), ``it_total += 1``. The estimator is the class with
  its ``LAMDA_SSL.Config`` defaults (its WideResNet 28-2, SGD 0.03 nesterov, EMA 0.999, fp32, CPU),
  ``mu`` 2 for the 32 unlabeled, set up by ``fit``'s own ``init_model``, ``init_ema``,
  ``init_optimizer``, ``init_scheduler``, ``init_augmentation`` and ``start_fit``. Batches are in the
  form its dataloaders give: ``lb_X = [x]``, ``ulb_X = [weak, second view]`` for FixMatch, MixMatch
  and Mean Teacher, ``[x]`` for VAT and ICT. Its data loading is not timed either. One adjustment:
  its ``CosineAnnealingLR`` wrapper passes ``verbose=False``, which current torch no longer takes, so
  where that fails the same torch scheduler is built without it.

So the peers' figures leave out their data pipelines and semimix's include its augmentation (well
under 1% of a WRN-28-2 step: weak augmentation runs at ~160k samples/s, RandAugment + Cutout ~24k,
``benchmarks/RESULTS.md``): the comparison errs in the peers' favour. LAMDA-SSL's Mean Teacher step
is short for another reason: its consistency loss compares the teacher's logits (under ``no_grad``)
with the student's *detached* ones, so no gradient flows from the unlabeled batch and its backward
covers the labeled forward only.

Setup of the peers' venv (x86_64, Python 3.11; see benchmarks/RESULTS.md, "Peer step times"):

    python3 -m venv /work/peer-venv
    /work/peer-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/peer-venv/bin/pip install --no-deps semilearn==0.3.2 LAMDA-SSL==1.0.2
    /work/peer-venv/bin/pip install scipy scikit-image ruamel.yaml progress tqdm tensorboard timm \\
        transformers==4.57.6 wandb aim matplotlib scikit-learn==1.4.2

(``--no-deps``: semilearn asks for torchaudio, which has no release for torch 2.14.1, and LAMDA-SSL
for torchtext and torch-geometric, which ICT & co. never import. scikit-learn 1.4.2: LAMDA-SSL
imports ``sklearn.utils._approximate_mode``, which 1.9.1 no longer has there. Nothing in USB's vision path uses
torchaudio, but its package ``__init__`` imports its audio datasets; this script puts an empty
``torchaudio`` module in place when none is installed.)

Runs (the semimix ones from the repository's venv, the peers' from theirs):

    python benchmarks/peer_step.py --library semimix --json semimix-auto.json
    python benchmarks/peer_step.py --library semimix --precision fp32 --json semimix-fp32.json
    /work/peer-venv/bin/python benchmarks/peer_step.py --library usb --json usb.json
    /work/peer-venv/bin/python benchmarks/peer_step.py --library lamda --json lamda.json
    python benchmarks/peer_step.py --compare semimix-auto.json semimix-fp32.json usb.json lamda.json

The peers' venv has another torch (2.14.1, a CUDA build run on the CPU) than semimix's (2.13.0+cpu);
semimix's step also runs there from the source tree, to compare on one torch build:

    PYTHONPATH=src /work/peer-venv/bin/python benchmarks/peer_step.py --library semimix --precision fp32 --json semimix-fp32-peer-torch.json
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

METHODS = ("fixmatch", "mixmatch", "mean-teacher", "vat", "ict")
LIBRARIES = {"semimix": "semimix", "usb": "USB", "lamda": "LAMDA-SSL"}
DISTRIBUTIONS = {"semimix": "semimix", "usb": "semilearn", "lamda": "LAMDA-SSL"}
MODEL = "WRN-28-2"
SHAPE = (3, 32, 32)
CLASSES = 10
USB_NAMES = {"fixmatch": "fixmatch", "mixmatch": "mixmatch", "mean-teacher": "meanteacher", "vat": "vat"}
LAMDA_NAMES = {"fixmatch": "FixMatch", "mixmatch": "MixMatch", "mean-teacher": "MeanTeacher", "vat": "VAT", "ict": "ICT"}
LAMDA_TWO_VIEWS = {"FixMatch", "MixMatch", "MeanTeacher"}  # their unlabeled dataset yields two views, the others one

Step = Callable[[], object]


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model and bf16 flags from /proc/cpuinfo, logical CPUs, and the load when the run started."""
    cpu, flags = "", set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not cpu:
            cpu = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"}),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }


# --- timing --------------------------------------------------------------------------------------


def time_interleaved(steps: dict[str, Step], n: int, warmup: int) -> dict[str, list[float]]:
    """``warmup`` untimed steps of each method, then ``n`` rounds of one timed step per method, the
    order rotated each round (as ``semimix bench speed`` does)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {m: [] for m in steps}
    order = list(steps)
    for r in range(n):
        for m in order[r % len(order) :] + order[: r % len(order)]:
            start = time.perf_counter()
            steps[m]()
            times[m].append(time.perf_counter() - start)
    return times


# --- semimix ---------------------------------------------------------------------------------------


def semimix_steps(methods: list[str], b: int, u: int, precision: str) -> tuple[dict[str, Step], dict[str, Any], dict[str, str]]:
    from semimix.bench.speed import SpeedOptions, build_trainer, synthetic_bundle

    opts = SpeedOptions(methods=list(methods), model="wrn-28-2", image_size=SHAPE[1], labeled_batch=b, unlabeled_batch=u, precision=precision)
    opts.validate()
    data = synthetic_bundle(SHAPE, CLASSES)
    trainers = {m: build_trainer(canonical, opts, data) for m, canonical in zip(methods, opts.methods)}
    fast_path = next(iter(trainers.values())).fast_path.describe()
    return {m: t.train_step for m, t in trainers.items()}, fast_path, {}


# --- USB (semilearn) -----------------------------------------------------------------------------


def _cpu_only_cuda_calls() -> None:
    """USB moves every batch with ``.cuda(self.gpu)``; with no GPU visible, that stays on the CPU."""
    import torch

    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]


def _placeholder_torchaudio() -> None:
    """semilearn's package ``__init__`` imports its audio datasets, which import torchaudio; no
    torchaudio release matches torch 2.14.1, and nothing in the vision path calls it."""
    import importlib.machinery
    import importlib.util
    import types

    if importlib.util.find_spec("torchaudio") is None:
        module = types.ModuleType("torchaudio")
        module.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = module


def usb_batch(name: str, b: int, u: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """USB's collated batch dicts for algorithm ``name`` (``BasicDataset.__getitem__``)."""
    import torch

    data_lb = {"idx_lb": torch.arange(b), "x_lb": torch.randn(b, *SHAPE), "y_lb": torch.arange(b) % CLASSES}
    data_ulb = {"idx_ulb": torch.arange(u), "x_ulb_w": torch.randn(u, *SHAPE)}
    if name != "vat":  # vat and pseudolabel get the weak view only; the others a second view
        data_ulb["x_ulb_s"] = torch.randn(u, *SHAPE)
    return data_lb, data_ulb


def usb_step(algorithm: Any, data_lb: dict[str, Any], data_ulb: dict[str, Any]) -> None:
    """One iteration of ``AlgorithmBase.train()``'s loop."""
    algorithm.call_hook("before_train_step")
    algorithm.out_dict, algorithm.log_dict = algorithm.train_step(**algorithm.process_batch(**data_lb, **data_ulb))
    algorithm.call_hook("after_train_step")
    algorithm.it += 1


def usb_steps(methods: list[str], b: int, u: int) -> tuple[dict[str, Step], dict[str, Any], dict[str, str]]:
    if u % b:
        sys.exit("USB draws batch_size × uratio unlabeled images: --unlabeled-batch must be a multiple of --labeled-batch")
    _cpu_only_cuda_calls()
    _placeholder_torchaudio()
    with redirect_stdout(sys.stderr):  # USB prints as it builds; keep stdout for the table
        import semilearn
        from semilearn import get_algorithm, get_config, get_net_builder

    steps: dict[str, Step] = {}
    skipped: dict[str, str] = {}
    save_dir = tempfile.mkdtemp(prefix="usb-peer-step-")  # nothing is written there: no checkpoint fires
    for m in methods:
        name = USB_NAMES.get(m)
        if name is None or name not in semilearn.algorithms.name2alg:
            skipped[m] = f"USB {importlib.metadata.version('semilearn')} has no {m} (its algorithms: {', '.join(sorted(semilearn.algorithms.name2alg.keys()))})"
            continue
        config = {
            "algorithm": name,
            "net": "wrn_28_2",
            "net_from_name": False,
            "num_classes": CLASSES,
            "img_size": SHAPE[1],
            "batch_size": b,
            "uratio": u // b,
            "dataset": "synthetic",  # not one of USB's: get_dataset returns None and no data is loaded
            "num_train_iter": 2**20,
            "num_eval_iter": 0,  # 0: evaluation, checkpoint and logging hooks never fire
            "num_log_iter": 0,
            "save_dir": save_dir,
            "save_name": name,
            "distributed": False,  # USB's train.py derives it (world_size 1); get_config leaves it to the caller
        }
        with redirect_stdout(sys.stderr):
            args = get_config(config)
            algorithm = get_algorithm(args, get_net_builder(args.net, from_name=False), tb_log=None, logger=None)
        algorithm.hooks_dict.pop("TimerHook", None)  # CUDA events, for its logged times only
        algorithm.model.train()
        algorithm.call_hook("before_run")  # EMAHook registers the EMA
        steps[m] = functools.partial(usb_step, algorithm, *usb_batch(name, b, u))
    return steps, {"precision": "fp32", "memory_format": "contiguous", "fast_path": "USB default: amp False"}, skipped


# --- LAMDA-SSL -----------------------------------------------------------------------------------


def lamda_step(estimator: Any, to_device: Callable[[Any, Any], Any], batch: tuple[Any, ...]) -> None:
    """One iteration of ``DeepModelMixin.fit_batch_loop``."""
    lb_idx, lb_X, lb_y, ulb_idx, ulb_X = (to_device(v, estimator.device) for v in batch)
    estimator.start_fit_batch()
    result = estimator.train(lb_X=lb_X, lb_y=lb_y, ulb_X=ulb_X, lb_idx=lb_idx, ulb_idx=ulb_idx)
    estimator.end_fit_batch(result)
    estimator.it_total += 1
    estimator.it_epoch += 1


def lamda_init_scheduler(estimator: Any) -> None:
    """``init_scheduler``; where torch no longer takes the ``verbose=False`` that LAMDA-SSL's
    ``CosineAnnealingLR`` wrapper passes (gone from current torch), the same torch scheduler without it."""
    import torch

    try:
        estimator.init_scheduler()
    except TypeError as err:
        spec = estimator.scheduler
        if "verbose" not in str(err) or type(spec).__name__ != "CosineAnnealingLR":
            raise
        optimizer = estimator._optimizer
        estimator._scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=spec.T_max, eta_min=spec.eta_min, last_epoch=spec.last_epoch)


def lamda_steps(methods: list[str], b: int, u: int) -> tuple[dict[str, Step], dict[str, Any], dict[str, str]]:
    import torch

    if u % b:
        sys.exit("LAMDA-SSL draws mu × batch_size unlabeled images: --unlabeled-batch must be a multiple of --labeled-batch")
    from LAMDA_SSL.utils import to_device

    steps: dict[str, Step] = {}
    for m in methods:
        name = LAMDA_NAMES[m]
        cls = getattr(importlib.import_module(f"LAMDA_SSL.Algorithm.Classification.{name}"), name)
        kwargs: dict[str, Any] = {"mu": u // b}
        if "num_classes" in inspect.signature(cls).parameters:
            kwargs["num_classes"] = CLASSES
        estimator = cls(**kwargs)  # everything else: LAMDA_SSL.Config.<name>
        estimator.init_model()
        estimator.init_ema()
        estimator.init_optimizer()
        lamda_init_scheduler(estimator)
        estimator.init_augmentation()
        estimator.start_fit()
        estimator._epoch, estimator.it_epoch, estimator.it_total = 1, 0, 0  # as fit_epoch_loop sets them
        views = 2 if name in LAMDA_TWO_VIEWS else 1
        batch = (torch.arange(b), [torch.randn(b, *SHAPE)], torch.arange(b) % CLASSES, torch.arange(u), [torch.randn(u, *SHAPE) for _ in range(views)])
        steps[m] = functools.partial(lamda_step, estimator, to_device, batch)
    return steps, {"precision": "fp32", "memory_format": "contiguous", "fast_path": "LAMDA-SSL default (no mixed precision)"}, {}


# --- a run ---------------------------------------------------------------------------------------


def library_version(library: str) -> str:
    """The installed distribution's version; semimix's own ``__version__`` (it also runs from a source
    tree on ``PYTHONPATH``, e.g. in the peers' venv to compare on one torch build)."""
    if library == "semimix":
        import semimix

        return str(semimix.__version__)
    return importlib.metadata.version(DISTRIBUTIONS[library])


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        sys.exit(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    b, u = args.labeled_batch, args.unlabeled_batch
    if min(b, u, args.steps) < 1 or args.warmup < 0:
        sys.exit("--labeled-batch, --unlabeled-batch and --steps must be positive, --warmup >= 0")
    precision = args.precision or ("auto" if args.library == "semimix" else "fp32")
    if args.library != "semimix" and precision != "fp32":
        sys.exit(f"--precision: {LIBRARIES[args.library]} trains in fp32 by default (and has no CPU mixed precision); leave it out")
    if args.library == "semimix":
        steps, fast_path, skipped = semimix_steps(methods, b, u, precision)
    else:
        try:
            steps, fast_path, skipped = (usb_steps if args.library == "usb" else lamda_steps)(methods, b, u)
        except ModuleNotFoundError as err:
            if err.name not in ("semilearn", "LAMDA_SSL"):
                raise
            sys.exit(f"{LIBRARIES[args.library]} is not installed in {sys.executable}; run this from the peers' venv (see the docstring)")
    times = time_interleaved(steps, args.steps, args.warmup)
    if torch.get_num_threads() != args.threads:
        print(f"warning: torch threads changed to {torch.get_num_threads()} during the run (asked {args.threads})", file=sys.stderr)
    results: dict[str, Any] = {}
    for m in methods:
        if m in skipped:
            results[m] = {"skipped": skipped[m]}
        else:
            results[m] = {"step_time_s": statistics.median(times[m]), "step_time_spread_s": max(times[m]) - min(times[m]), "step_times_s": times[m]}
    return {
        "library": args.library,
        "library_version": library_version(args.library),
        "precision_setting": precision,
        **fast_path,
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "machine": machine(),
        "workload": {"model": MODEL, "input_shape": list(SHAPE), "classes": CLASSES, "labeled_batch": b, "unlabeled_batch": u, "device": "cpu"},
        "steps": args.steps,
        "warmup": args.warmup,
        "seed": args.seed,
        "command": " ".join(sys.argv),
        "methods": results,
    }


# --- the table -------------------------------------------------------------------------------------


def label(result: dict[str, Any]) -> str:
    """e.g. 'semimix bf16+CL', 'USB fp32'."""
    cl = "+CL" if result.get("memory_format") == "channels-last" else ""
    return f"{LIBRARIES.get(result['library'], result['library'])} {result.get('precision', '?')}{cl}"


def compare_table(results: list[dict[str, Any]]) -> str:
    """Per method, each run's median step (s) and each peer's step ÷ each semimix run's, as markdown,
    then one line per run saying what ran where."""
    if not results:
        raise ValueError("no results to compare")
    workloads = {json.dumps(r["workload"], sort_keys=True) for r in results}
    if len(workloads) > 1:
        raise ValueError("the files time different workloads: " + "; ".join(sorted(workloads)))
    labels: list[str] = []
    for r in results:
        name, n = label(r), 2
        if name in labels:  # e.g. semimix from its own venv and from the peers' (another torch)
            name = f"{label(r)} torch {r['torch']}"
        while name in labels:
            name, n = f"{label(r)} ({n})", n + 1
        labels.append(name)
    ours = [i for i, r in enumerate(results) if r["library"] == "semimix"]
    peers = [i for i, r in enumerate(results) if r["library"] != "semimix"]
    seen = [m for r in results for m in r["methods"]]
    methods = [m for m in METHODS if m in seen] + sorted(set(seen) - set(METHODS))

    def step(i: int, m: str) -> float | None:
        entry = results[i]["methods"].get(m, {})
        return entry.get("step_time_s")

    head = ["method"] + [f"{labels[i]} s" for i in range(len(results))] + [f"{labels[p]} ÷ {labels[s]}" for p in peers for s in ours]
    rows = []
    for m in methods:
        row = [m] + ["—" if step(i, m) is None else f"{step(i, m):.3f}" for i in range(len(results))]
        for p in peers:
            for s in ours:
                a, c = step(p, m), step(s, m)
                row.append("—" if a is None or c is None or c == 0 else f"{a / c:.2f}")
        rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(row) + " |" for row in rows]
    w = results[0]["workload"]
    lines.append("")
    shape = "×".join(map(str, w["input_shape"]))
    lines.append(f"{w['model']}, {shape}, batch {w['labeled_batch']} labeled + {w['unlabeled_batch']} unlabeled, {w['device']}; median step, seconds.")
    for name, r in zip(labels, results):
        mach = r["machine"]
        flags = ", ".join(mach["bf16_flags"]) or "no bf16 flags"
        load = mach.get("load_average_at_start")
        lines.append(
            f"- {name}: {DISTRIBUTIONS.get(r['library'], r['library'])} {r['library_version']}, torch {r['torch']}, {r['torch_threads']} threads, "
            f"{r['steps']} steps after {r['warmup']} warm-up; {mach['cpu']} ({mach['logical_cpus']} CPUs; {flags}), load average at start {load}"
        )
        for m, entry in r["methods"].items():
            if "skipped" in entry:
                lines.append(f"  - {m}: not run: {entry['skipped']}")
    if len({(r["machine"]["cpu"], r["machine"]["logical_cpus"], r["torch_threads"]) for r in results}) > 1:
        lines.append("- warning: the runs are from different CPUs or thread counts; the ratios compare machines as well as libraries")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", choices=sorted(LIBRARIES), help="which library's training step to time (imports only that one)")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="JSON", help="print the table from files written by --json, and time nothing")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per method first")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], help="semimix only: its precision setting (default auto); the peers run fp32")
    parser.add_argument("--labeled-batch", type=int, default=16)
    parser.add_argument("--unlabeled-batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the run here")
    args = parser.parse_args(argv)
    if args.compare:
        try:
            print(compare_table([json.loads(p.read_text()) for p in args.compare]))
        except (OSError, ValueError, KeyError) as err:
            sys.exit(f"--compare: {err}")
        return
    if not args.library:
        parser.error("give --library (to time) or --compare (to tabulate)")
    result = run(args)
    print(compare_table([result]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
