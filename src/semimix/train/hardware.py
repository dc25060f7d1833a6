"""The device a run trains on, and what it ran on, for its summary: the same seed gives the same
numbers only on the same hardware, torch version and (on CPU) thread count, so a result records all three."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from semimix.errors import SemimixError


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def describe(device: torch.device) -> dict[str, object]:
    """``hardware`` (the accelerator's name, or the CPU's), ``threads`` (torch's intra-op threads)
    and ``torch_version``."""
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"hardware": hardware, "threads": torch.get_num_threads(), "torch_version": torch.__version__}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SemimixError(f"device {name!r} asked for, but this machine has no CUDA GPU visible to PyTorch; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise SemimixError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
