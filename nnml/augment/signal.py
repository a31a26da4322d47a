"""Augmentations of 1-D signals ``(batch, channels, length)``: random shift, Gaussian noise, amplitude scaling.

What they preserve: the label (a digit of MNIST-1D stays that digit when moved a few points, scaled a little or
made noisier: its generator does exactly these things), the shape, dtype and device. Noise and scaling work on
any batch shape (tabular rows and images too).
"""

from __future__ import annotations

import torch

from nnml.augment.base import Augmentation, per_sample
from nnml.errors import NnmlError


class RandomShift(Augmentation):
    """Move each signal by a random whole number of points in [-max_shift, max_shift] along its last axis.
    ``mode``: ``circular`` (what falls off one end comes back at the other, as MNIST-1D's generator translates)
    or ``zeros`` (the gap is filled with ``fill``)."""

    def __init__(self, max_shift: int = 3, mode: str = "circular", fill: float = 0.0, p: float = 1.0):
        super().__init__(p)
        if int(max_shift) < 0:
            raise NnmlError(f"RandomShift.max_shift={max_shift} is not valid; choose an integer >= 0")
        if mode not in ("circular", "zeros"):
            raise NnmlError(f"RandomShift.mode={mode} is not valid; choose one of: circular, zeros")
        self.max_shift, self.mode, self.fill = int(max_shift), mode, float(fill)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return shift_last_axis(x, random_offsets(x, self.max_shift), self.mode, self.fill)

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}, mode={self.mode}" + (f", p={self.p}" if self.p < 1 else "")


def random_offsets(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """One integer offset in [-max_shift, max_shift] per sample, on x's device."""
    return torch.randint(-max_shift, max_shift + 1, (x.shape[0],), device=x.device)


def shift_last_axis(x: torch.Tensor, shift: torch.Tensor, mode: str = "circular", fill: float = 0.0) -> torch.Tensor:
    """``out[b, ..., i] = x[b, ..., i - shift[b]]`` (a gather, no Python loop over samples)."""
    n = x.shape[-1]
    src = torch.arange(n, device=x.device).view(1, n) - shift.view(-1, 1)  # (batch, n)
    inside = (src >= 0) & (src < n)
    src = src % n
    index = src.view(x.shape[0], *([1] * (x.dim() - 2)), n).expand_as(x)
    out = x.gather(-1, index)
    if mode == "zeros":
        keep = inside.view(x.shape[0], *([1] * (x.dim() - 2)), n)
        out = torch.where(keep, out, torch.full((), fill, dtype=x.dtype, device=x.device))
    return out


class GaussianNoise(Augmentation):
    """Add N(0, std^2) noise to every value (inputs are standardized, so std is in units of the data's std)."""

    def __init__(self, std: float = 0.1, p: float = 1.0):
        super().__init__(p)
        if float(std) < 0:
            raise NnmlError(f"GaussianNoise.std={std} is not valid; choose a number >= 0")
        self.std = float(std)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std}" + (f", p={self.p}" if self.p < 1 else "")


class RandomScale(Augmentation):
    """Multiply each sample by one random factor drawn uniformly from [low, high]."""

    def __init__(self, low: float = 0.8, high: float = 1.2, p: float = 1.0):
        super().__init__(p)
        if not 0 <= float(low) <= float(high):
            raise NnmlError(f"RandomScale.low={low}, high={high} are not valid; choose 0 <= low <= high")
        self.low, self.high = float(low), float(high)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x * per_sample(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}" + (f", p={self.p}" if self.p < 1 else "")
