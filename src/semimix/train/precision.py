"""The fast path a run takes on the hardware at hand: bf16 autocast where the device computes bf16
natively, and channels-last memory for convolutional models with it.

``precision: auto`` (the default) resolves to ``bf16`` on a CUDA GPU with native bf16 and on a CPU
with AVX-512 bf16 or AMX, and to ``fp32`` elsewhere: a CPU that only emulates bf16 ran it 14x slower
(benchmarks/RESULTS.md, "Speed"), so the units are detected, not assumed. On a CPU, a model whose
forward pass costs under ``SMALL_MODEL_MACS`` multiply-accumulates per sample stays fp32 too: there
autocast's casts cost as much as its bf16 matmuls save. The count is of the model's convolutions and
linear layers on one probe sample, so the choice depends on the model and data shape only, never on a
timing, and the same config computes the same numbers every time on a given machine. ``SEMIMIX_NATIVE_BF16=0``
(or ``1``) overrides the detection — for a machine it misjudges, and for the test suite, whose
numbers must not depend on the machine. ``fp32`` is semimix's behaviour before ``auto`` existed.

Under bf16 only the step's passes run in bf16: weights, gradients, the optimiser, the EMA teacher and
BatchNorm's running statistics stay fp32, and VAT's power iteration (ξ = 1e-6, which bf16 would
round away) runs in fp32 (``ops.adversarial.vat_perturbation``). ``memory_format: auto`` stores a
convolutional model channels-last where bf16 runs (measured 0.61-0.78x the step time of bf16 alone
on an AMX CPU; fp32 stays contiguous, as before).

A run resolves ``auto`` once, when it starts, and its checkpoints record what it resolved to, so a
run resumed on another machine continues in the precision it trained in.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp32")
# Below this forward cost per sample a CPU step is no faster in bf16. VAT steps, batch 32 + 128, one thread, bf16
# time / fp32 time on an AMX Xeon (benchmarks/precision_by_model.py; RESULTS.md, "Small models"): MLPs 64-100-50
# (12k MACs) 1.57, 784-64 (51k) 1.06, 256-256-256 (134k) 1.07, 784-256 (203k) 1.05, 64-512-512 (300k) 0.83;
# cnn-small on 8x8 digits (1.8M) 0.62; a 784-1200-1200 MLP (2.4M) 0.82; cnn-small on MNIST (22M) 0.46.
SMALL_MODEL_MACS = 2**18
MEMORY_FORMATS = ("auto", "channels-last", "contiguous")
OVERRIDE = "SEMIMIX_NATIVE_BF16"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware (``SEMIMIX_NATIVE_BF16`` = 0/1 overrides)."""
    forced = os.environ.get(OVERRIDE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


@dataclass(frozen=True)
class FastPath:
    """What a run computes in: ``precision`` ``bf16`` or ``fp32`` and whether convolutional models
    are stored ``channels_last``; ``reason`` says why, for the run's summary."""

    precision: str
    channels_last: bool
    reason: str

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    def describe(self) -> dict[str, object]:
        return {"precision": self.precision, "memory_format": "channels-last" if self.channels_last else "contiguous", "fast_path": self.reason}


def forward_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one sample's forward pass through ``model``'s convolutions and linear
    layers, counted by hooks on an eval-mode probe (other ops, such as attention's matmuls, are not)."""
    total = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            per_output = module.in_features
        else:
            assert isinstance(module, nn.modules.conv._ConvNd)
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        total += output[:1].numel() * per_output

    layers = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, layers)]
    training = model.training
    parameter = next(model.parameters(), None)
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=parameter.device if parameter is not None else None))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return total


def resolve_fast_path(
    precision: str, memory_format: str, device: torch.device, model: nn.Module, input_shape: tuple[int, ...], saved_precision: str | None = None
) -> FastPath:
    """The path for ``model`` on ``device`` and inputs of ``input_shape`` (no batch axis);
    ``saved_precision`` is what a resumed run's checkpoint recorded (``auto`` keeps it, so a run
    never changes precision between attempts)."""
    if precision != "auto":
        resolved, reason = precision, f"precision: {precision}"
    elif saved_precision is not None:
        resolved, reason = saved_precision, f"precision: auto, kept from the run's first attempt ({saved_precision})"
    elif not native_bf16(device):
        resolved, reason = "fp32", f"precision: auto, {device.type} has no native bf16"
    elif device.type == "cpu" and (macs := forward_macs(model, input_shape)) < SMALL_MODEL_MACS:
        small = f"{macs:,} multiply-accumulates per sample, under {SMALL_MODEL_MACS:,}"
        resolved, reason = "fp32", f"precision: auto, cpu computes bf16 natively but the model is small ({small}), where bf16 is no faster"
    else:
        resolved, reason = "bf16", f"precision: auto, {device.type} computes bf16 natively"
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    channels_last = convolutional and (memory_format == "channels-last" or (memory_format == "auto" and resolved == "bf16"))
    return FastPath(resolved, channels_last, reason)


def use_channels_last(model: nn.Module) -> None:
    """Store ``model``'s 4-D weights channels-last, and turn its 4-D inputs channels-last too, whoever
    calls it (a pre-forward hook; deep copies such as the EMA teacher keep it)."""
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit memory_format
    model.register_forward_pre_hook(_inputs_channels_last)


def _inputs_channels_last(_module: nn.Module, args: tuple) -> tuple:
    if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
        return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
    return args
