"""The EMA ("mean") teacher: θ_t ← decay·θ_t + (1−decay)·θ after every optimiser step."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_teacher(student: nn.Module) -> nn.Module:
    """A copy of the student that is never trained by gradients."""
    teacher = copy.deepcopy(student)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float, step: int, copy_buffers: bool = True) -> None:
    """One EMA step with Mean Teacher's warm start min(1 − 1/(step+1), decay), using fused
    foreach ops; only parameters are averaged, so buffers (BN statistics) are copied from the
    student, unless the teacher keeps its own (``copy_buffers=False``)."""
    d = min(1.0 - 1.0 / (step + 1), decay)
    t_params: list[torch.Tensor] = list(teacher.parameters())
    s_params: list[torch.Tensor] = list(student.parameters())
    torch._foreach_lerp_(t_params, s_params, 1.0 - d)
    t_bufs = list(teacher.buffers())
    if t_bufs and copy_buffers:  # an MLP without BatchNorm has none, and foreach ops refuse empty lists
        torch._foreach_copy_(t_bufs, list(student.buffers()))
