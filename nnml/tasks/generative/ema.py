"""An exponential moving average of a network's weights (a copy updated after each generator step): sampling from
the averaged generator gives steadier, often better samples (Yazici et al. 2019; Karras et al. 2018)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(module: nn.Module) -> nn.Module:
    ema = copy.deepcopy(module)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema.eval()


@torch.no_grad()
def ema_update(ema: nn.Module, module: nn.Module, decay: float) -> None:
    """ema = decay * ema + (1 - decay) * module for parameters; buffers (batch-norm statistics) are copied."""
    for e, p in zip(ema.parameters(), module.parameters()):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), module.buffers()):
        e.copy_(b)
