"""Augmentations of image batches ``(batch, channels, height, width)``: random translation, horizontal flip, noise.

What they preserve: shape, dtype, device and (where they make sense) the label. A few pixels of translation keep a
digit a digit. A horizontal flip keeps a shoe a shoe (Fashion-MNIST) but not a digit (a flipped 3 is no 3), so it
is for data with mirror symmetry only. Noise is :class:`nnml.augment.signal.GaussianNoise`, which takes any shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nnml.augment.base import Augmentation
from nnml.augment.signal import GaussianNoise, RandomScale  # noqa: F401  (shape-agnostic, usable on images)
from nnml.errors import NnmlError


class RandomTranslate(Augmentation):
    """Move each image by random whole pixels in [-max_shift, max_shift] along each axis, filling with ``fill``."""

    def __init__(self, max_shift: int = 2, fill: float = 0.0, p: float = 1.0):
        super().__init__(p)
        if int(max_shift) < 0:
            raise NnmlError(f"RandomTranslate.max_shift={max_shift} is not valid; choose an integer >= 0")
        self.max_shift, self.fill = int(max_shift), float(fill)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise NnmlError(f"RandomTranslate needs image batches (batch, channels, height, width); got shape "
                            f"{tuple(x.shape)}: use nnml.augment.signal.RandomShift for sequences")
        m = self.max_shift
        if m == 0:
            return x
        b, c, h, w = x.shape
        dy = torch.randint(-m, m + 1, (b, 1), device=x.device)
        dx = torch.randint(-m, m + 1, (b, 1), device=x.device)
        padded = F.pad(x, (m, m, m, m), value=self.fill)
        rows = torch.arange(h, device=x.device).view(1, h) + m - dy  # (b, h): source row of each output row
        cols = torch.arange(w, device=x.device).view(1, w) + m - dx
        out = padded.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w + 2 * m))
        return out.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))

    def extra_repr(self) -> str:
        return f"max_shift={self.max_shift}" + (f", p={self.p}" if self.p < 1 else "")


class RandomHorizontalFlip(Augmentation):
    """Mirror each chosen image left to right (``p`` defaults to 0.5); only for classes with mirror symmetry."""

    def __init__(self, p: float = 0.5):
        super().__init__(p)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-1)
