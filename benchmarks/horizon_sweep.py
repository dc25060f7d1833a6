"""Which averaging horizons suit a short run: BatchNorm momentum and the EMA teacher's decay, swept
over one training trajectory per (budget, seed).

BatchNorm's running statistics do not change the weights a run trains (train-mode passes normalise
with batch statistics), so every momentum can be replayed after the run from the batch statistics
each training pass saw: r ← (1 − m)·r + m·b, exactly as ``nn.BatchNorm`` updates them. EMA teachers
of several decays are kept beside the student, each with the warm start min(1 − 1/(t+1), decay).
A horizon H is 1/momentum for BatchNorm and 1/(1 − decay) for the EMA; the sweep states H as a
fraction of the run (and the full presets' absolute H), so two budgets show whether the best H
follows the run's length. Selection reads the validation split; test is printed beside it.

The student is evaluated with the replayed statistics; each EMA teacher with statistics
re-estimated on clean training images (``ops.reestimate_batchnorm``), so its column isolates the
weight averaging. A supervised trajectory is the cheap case: an SSL method's teacher also feeds
its own targets back, which this does not measure.

    python benchmarks/horizon_sweep.py configs/fixmatch-cifar10-cpu.yaml --set method=supervised \
        --steps 400 1600 --seeds 0 1 --data-dir ../shared/datasets --out benchmarks/results/horizon_sweep.csv
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
from pathlib import Path

import torch
from torch import nn

from semimix.api import load_config
from semimix.errors import SemimixError
from semimix.eval.metrics import evaluate
from semimix.ops import reestimate_batchnorm
from semimix.train.config import apply_override
from semimix.train.ema import make_teacher
from semimix.train.trainer import Trainer

FRACTIONS = (1 / 3, 1 / 10, 1 / 30, 1 / 100, 1 / 300)  # H as a fraction of the run's steps
ABSOLUTE = (10.0, 1000.0)  # H of BN momentum 0.1 (PyTorch's default) and of 0.001 / EMA 0.999 (the full presets)


class BatchStatsRecorder:
    """Saves, per BatchNorm layer, the batch mean and unbiased variance of every pass that would
    update its running statistics (train mode, tracking on), in order."""

    def __init__(self, model: nn.Module) -> None:
        self.norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.stats: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in self.norms]
        for i, m in enumerate(self.norms):
            m.register_forward_hook(self._hook(i))

    def _hook(self, i: int):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
            if module.training and module.track_running_stats:
                x = inputs[0].detach().float()
                dims = [d for d in range(x.dim()) if d != 1]
                n = x.numel() // x.shape[1]
                self.stats[i].append((x.mean(dims), x.var(dims, unbiased=True) if n > 1 else torch.zeros(x.shape[1])))

        return record

    def replay(self, model: nn.Module, horizon: float) -> None:
        """Set ``model``'s running statistics to those momentum 1/horizon would have accumulated."""
        momentum = min(1.0, 1.0 / horizon)
        targets = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m, stats in zip(targets, self.stats):
            mean, var = torch.zeros_like(m.running_mean), torch.ones_like(m.running_var)
            for b_mean, b_var in stats:
                mean.lerp_(b_mean, momentum)
                var.lerp_(b_var, momentum)
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)


def horizons(steps: int) -> list[tuple[str, float]]:
    return [(f"1/{round(1 / f)} run", f * steps) for f in FRACTIONS] + [(f"{h:g} steps", h) for h in ABSOLUTE]


def sweep(cfg_path: str, overrides: list[str], steps: int, seed: int, data_dir: str | None) -> list[dict[str, object]]:
    values: dict[str, object] = {}
    for assignment in [*overrides, f"steps={steps}", f"seed={seed}", "progress=false", *([f"data.data_dir={data_dir}"] if data_dir else [])]:
        apply_override(values, assignment)
    cfg = load_config(cfg_path, **values)
    trainer = Trainer(cfg)
    recorder = BatchStatsRecorder(trainer.student)
    teachers = {name: make_teacher(trainer.student) for name, _ in horizons(steps)}
    decays = {name: 1.0 - 1.0 / max(h, 1.0) for name, h in horizons(steps)}
    for t in range(steps):
        trainer.train_step()
        with torch.no_grad():
            for name, teacher in teachers.items():
                d = min(1.0 - 1.0 / (t + 1), decays[name])
                torch._foreach_lerp_(list(teacher.parameters()), list(trainer.student.parameters()), 1.0 - d)
    data = trainer.data
    clean = torch.cat([data.x_labeled, data.x_unlabeled[:4000]]) if len(data.x_unlabeled) else data.x_labeled

    def scores(model: nn.Module) -> tuple[float, float]:
        val = evaluate(model, data.x_val, data.y_val, data.preprocess)["accuracy"]
        test = evaluate(model, data.x_test, data.y_test, data.preprocess)["accuracy"]
        return 100 * (1 - val), 100 * (1 - test)

    def pre(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(trainer.device)
        return data.preprocess(batch.float()) if data.preprocess is not None else batch

    rows = []
    for name, h in horizons(steps):
        recorder.replay(trainer.student, h)
        bn_val, bn_test = scores(trainer.student)
        reestimate_batchnorm(teachers[name], (pre(b) for b in clean.split(256)))
        ema_val, ema_test = scores(teachers[name])
        rows.append(
            {
                "steps": steps,
                "seed": seed,
                "horizon": name,
                "H": round(h, 1),
                "bn_val_err": bn_val,
                "bn_test_err": bn_test,
                "ema_val_err": ema_val,
                "ema_test_err": ema_test,
            }
        )
    reestimate_batchnorm(trainer.student, (pre(b) for b in clean.split(256)))
    val, test = scores(trainer.student)
    rows.append(
        {
            "steps": steps,
            "seed": seed,
            "horizon": "re-estimated (student)",
            "H": "",
            "bn_val_err": val,
            "bn_test_err": test,
            "ema_val_err": "",
            "ema_test_err": "",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="config override key=value")
    parser.add_argument("--steps", type=int, nargs="+", default=[400, 1600])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--data-dir")
    parser.add_argument("--out", help="CSV file for every row")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows: list[dict[str, object]] = []
    try:
        for steps in args.steps:
            for seed in args.seeds:
                new = sweep(args.config, args.overrides, steps, seed, args.data_dir)
                rows += new
                for r in new:
                    print(" | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()), flush=True)
    except SemimixError as error:
        sys.exit(f"horizon_sweep: {error}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
