"""The augmentation interface: a module applied to a whole training batch on its device.

An augmentation is an ``nn.Module`` whose ``forward(x)`` takes a batch ``(batch, ...)`` and returns a batch of the
same shape, dtype and device; labels are left alone (mixup, which changes them, is ``nnml.augment.mixup``). Every
random number comes from torch's global RNG on ``x.device`` (``torch.rand(..., device=x.device)``), which the loop
checkpoints and restores, so a resumed run draws the same augmentations as an uninterrupted one, and
``torch.manual_seed(s)`` makes a batch's augmentation repeatable. Nothing leaves the device: no per-sample Python
loop, no host copy.

Augmentations run only on training batches, after the batch was sliced; ``p`` is the chance that one sample is
augmented at all. :class:`Compose` chains several; :func:`build_augment` makes one from configs.
"""

from __future__ import annotations

import torch
from torch import nn

from nnml.errors import NnmlError


class Augmentation(nn.Module):
    """Base class: subclasses implement :meth:`apply` for the samples chosen with probability ``p``."""

    def __init__(self, p: float = 1.0):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise NnmlError(f"{type(self).__name__}.p={p} is not valid; choose a probability in [0, 1]")
        self.p = float(p)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def chosen(self, x: torch.Tensor) -> torch.Tensor | None:
        """A (batch, 1, ...) boolean mask of the samples to augment, or None when every sample is."""
        if self.p >= 1.0:
            return None
        return (torch.rand(x.shape[0], device=x.device) < self.p).view(-1, *([1] * (x.dim() - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0:
            return x
        mask = self.chosen(x)
        out = self.apply(x)
        return out if mask is None else torch.where(mask, out, x)

    def extra_repr(self) -> str:
        return f"p={self.p}" if self.p < 1.0 else ""


class Compose(nn.Sequential):
    """Augmentations applied one after the other, in order."""


def per_sample(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """One uniform number in [low, high) per sample, shaped to broadcast over the sample's other dimensions."""
    u = torch.rand(x.shape[0], device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
    return (low + (high - low) * u).view(-1, *([1] * (x.dim() - 1)))
