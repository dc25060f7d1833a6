"""Data parallelism under torchrun: one process per device, each training on its shard of every
global batch, gradients averaged with torch.distributed collectives.

The trainer averages gradients itself (one flattened all-reduce after backward) instead of wrapping
the student in ``DistributedDataParallel``: methods call the student many ways in one step (two
views, VAT's power iteration with ``autograd.grad`` on the input, hidden-layer mixing through the
StagedNet API, meta-gradient functional calls), which DDP's reducer hooks only follow with per-method
``no_sync`` care. The arithmetic is DDP's: the mean of the per-rank gradients, so every rank holds
the same weights after every step. Host-side agreement (stop requests, RNG states for checkpoints,
evaluation sums) goes over a CPU (gloo) group, so it never waits on the GPU stream.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from semimix.data.bundle import Inputs
from semimix.errors import SemimixError
from semimix.eval import evaluate
from semimix.train.config import TrainConfig


@dataclass(frozen=True)
class Dist:
    """This process's place in the job; ``world_size`` 1 is a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    control: Any = None  # the CPU process group for host-side values (the default group under gloo)

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def restarted(self) -> bool:
        """Whether torchrun restarted this worker group after a failure (so the run must resume)."""
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0

    @property
    def may_restart(self) -> bool:
        return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0

    # ------------------------------------------------------------------ the step
    def shard(self, indices: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (sizes are checked divisible up front)."""
        return indices.view(self.world_size, -1)[self.rank] if self.active else indices

    def average_gradients(self, params: Sequence[torch.nn.Parameter], flags: torch.Tensor) -> torch.Tensor:
        """Average the gradients over ranks in one all-reduce and return ``flags`` summed over ranks.

        ``flags`` (e.g. which loss terms were non-finite) ride along in the same buffer, so learning
        about another rank's NaN costs no extra collective. A parameter without a gradient joins
        with zeros, keeping the buffer layout the same on every rank.
        """
        if not self.active:
            return flags
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads] + [flags.to(grads[0].dtype)])
        dist.all_reduce(flat)
        summed = flat[-len(flags) :]
        for p, part in zip(params, flat[: -len(flags)].split([g.numel() for g in grads])):
            p.grad = part.view_as(p).div_(self.world_size)
        return summed

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's floating buffers (BatchNorm running statistics) everywhere, as DDP does, so the
        EMA teacher that copies them stays identical across ranks."""
        buffers = [b for b in module.buffers() if b.is_floating_point()]
        if not self.active or not buffers:
            return
        flat = torch.cat([b.reshape(-1) for b in buffers])
        dist.broadcast(flat, 0)
        for b, part in zip(buffers, flat.split([b.numel() for b in buffers])):
            b.copy_(part.view_as(b))

    def merge_sample_state(self, before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], rows: int) -> dict[str, torch.Tensor]:
        """One method state for every rank after a step (Temporal Ensembling's per-sample targets).

        A tensor with one row per unlabeled sample (``rows``) gets every rank's changes summed: the
        ranks trained on disjoint samples, so each row changed on at most one rank. Any other state
        must evolve identically everywhere; rank 0's copy is broadcast to make sure.
        """
        merged = {}
        for name, value in after.items():
            if value.dim() and len(value) == rows:
                start = before[name] if name in before else torch.zeros_like(value)  # state created by this step
                change = value - start
                dist.all_reduce(change)
                merged[name] = start + change
            else:
                merged[name] = value.clone()
                dist.broadcast(merged[name], 0)
        return merged

    # ------------------------------------------------------------------ host-side agreement
    def any_of(self, *flags: bool) -> list[bool]:
        """Each flag true on every rank when it is true on some rank (one collective for all of them)."""
        if not self.active:
            return list(flags)
        value = torch.tensor([int(flag) for flag in flags])
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=self.control)
        return [bool(v) for v in value.tolist()]

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums of host numbers over ranks (evaluation counts, logged losses)."""
        if not self.active or not values:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(tensor, group=self.control)
        return tensor.tolist()

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's copy of a same-shaped CPU tensor (RNG states), in rank order."""
        if not self.active:
            return [tensor]
        out = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(out, tensor, group=self.control)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's value of a small picklable object (a run directory name)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, 0, group=self.control)
        return box[0]

    def barrier(self) -> None:
        if self.active:
            dist.barrier(group=self.control)


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job described by the environment (RANK, WORLD_SIZE, LOCAL_RANK, ...), if any.

    NCCL when the processes train on CUDA, gloo on the CPU; under NCCL each process takes the GPU
    of its LOCAL_RANK. Returns the job and the device this process trains on.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Dist(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is not None and device.index != local_rank:
            raise SemimixError(f"under torchrun each process trains on the GPU of its LOCAL_RANK; use --device auto or cuda, not {device}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = timedelta(seconds=_timeout_s())
        backend = "nccl" if device.type == "cuda" else "gloo"
        if "MASTER_ADDR" in os.environ:
            # torchrun's agent keeps one TCP store for all attempts of a job (its env:// store has no
            # per-attempt prefix), so a restarted group would read the dead group's gloo addresses
            # and wait on them until the timeout: each attempt gets keys of its own.
            store, _, _ = next(dist.rendezvous("env://", rank, world_size, timeout=timeout))
            store = dist.PrefixStore(f"semimix/attempt{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)
            dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
        else:
            dist.init_process_group(backend, timeout=timeout)
    control = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
    return Dist(rank, world_size, local_rank, control), device


def _timeout_s() -> float:
    """How long a collective (or joining the group) may wait for a peer before failing:
    ``SEMIMIX_DIST_TIMEOUT`` seconds, default 600. A peer that died usually fails the survivors at
    once (its sockets close); the timeout bounds the case where it hangs instead."""
    value = os.environ.get("SEMIMIX_DIST_TIMEOUT", "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise SemimixError(f"SEMIMIX_DIST_TIMEOUT must be a positive number of seconds, got {value!r}")
    return seconds


@contextlib.contextmanager
def membership() -> Iterator[None]:
    """Run the body as this process's part of a torchrun job, then leave the job's process group
    before the interpreter exits (gloo's threads can abort the process at exit otherwise).

    After a body that finished, every rank first meets the others at a barrier, so no rank tears
    its connections down while a peer is still inside the job's last collective (a rank of a
    finished two-process CPU job was seen to abort, SIGABRT, as it left). After a body that raised,
    the rank leaves at once: a peer that failed will never reach the barrier.
    """
    try:
        yield
    except BaseException:
        _leave(wait_for_peers=False)
        raise
    _leave(wait_for_peers=True)


def _leave(wait_for_peers: bool) -> None:
    if dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


def check_job(cfg: TrainConfig, job: Dist, device: torch.device) -> None:
    """Options of torchrun jobs, checked before anything is built (the rest: ``validate_config``)."""
    if not job.active:
        return
    for key in ("labeled_batch_size", "unlabeled_batch_size"):
        if getattr(cfg, key) % job.world_size:
            raise SemimixError(
                f"{key}={getattr(cfg, key)} is the global batch, split evenly over {job.world_size} processes; make it a multiple of {job.world_size}"
            )
    if cfg.sync_batchnorm and device.type != "cuda":
        raise SemimixError("sync_batchnorm needs GPUs (PyTorch's SyncBatchNorm has no CPU kernel); drop it on the CPU")
    if cfg.out is None and job.may_restart:
        raise SemimixError("torchrun --max-restarts needs a fixed run directory to continue in; give --out DIR")


def evaluate_sharded(job: Dist, model: torch.nn.Module, x: Inputs, y: torch.Tensor, preprocess: Any, class_scores: Any) -> dict[str, float]:
    """Accuracy and NLL of ``model`` on (x, y); under torchrun each rank evaluates its slice and the sums are reduced."""
    if not job.active:
        return evaluate(model, x, y, preprocess, class_scores)
    lo, hi = (len(x) * job.rank) // job.world_size, (len(x) * (job.rank + 1)) // job.world_size
    part = x[lo:hi] if isinstance(x, torch.Tensor) else x.subset(slice(lo, hi))
    n = hi - lo
    result = evaluate(model, part, y[lo:hi], preprocess, class_scores) if n else {"accuracy": 0.0, "nll": 0.0}
    correct, nll, total = job.sum([round(result["accuracy"] * n), result["nll"] * n, n])
    return {"accuracy": correct / total, "nll": nll / total} if total else {"accuracy": math.nan, "nll": math.nan}
